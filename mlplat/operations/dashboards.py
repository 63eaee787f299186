"""Grafana dashboards generated from the catalog: one overview, one per model, one per online view.

The JSON is Grafana's dashboard model (schemaVersion 39), importable into Amazon Managed
Grafana or any Grafana with a Prometheus data source; the data source is a dashboard
variable, so one file works against the workspace and against a local Prometheus.
``mlplat dashboards`` writes them (``make dashboards``); a test keeps the committed ones fresh.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mlplat.catalog import Catalog
from mlplat.operations import metric_names as m
from mlplat.operations.model_monitoring import MonitoredModel, catalog_monitored_models
from mlplat.operations.objectives import Slo, SloKind, catalog_slos
from mlplat.operations.rules import BUDGET_RECORD, ERROR_RATIO_RECORD
from mlplat.spec.types import format_duration

SCHEMA_VERSION = 39
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
_WIDTH = 12
_HEIGHT = 8


@dataclass(frozen=True)
class Panel:
    """A time series panel: a title, a unit and its queries (legend per query)."""

    title: str
    unit: str
    queries: tuple[tuple[str, str], ...]
    """``(PromQL, legend)`` pairs."""
    description: str = ""


def _panel_json(panel: Panel, index: int) -> dict[str, Any]:
    return {
        "id": index + 1,
        "type": "timeseries",
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": _HEIGHT, "w": _WIDTH, "x": (index % 2) * _WIDTH, "y": (index // 2) * _HEIGHT},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
        "targets": [
            {"refId": chr(ord("A") + n), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
            for n, (expr, legend) in enumerate(panel.queries)
        ],
    }


def dashboard(uid: str, title: str, panels: list[Panel], tags: list[str]) -> dict[str, Any]:
    """A dashboard with a Prometheus data source variable and the panels two per row."""
    return {
        "uid": uid,
        "title": title,
        "tags": ["mlplat", *tags],
        "timezone": "utc",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": False,
        "refresh": "1m",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [{"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source"}]
        },
        "panels": [_panel_json(panel, index) for index, panel in enumerate(panels)],
    }


def _budget_panel(slos: list[Slo], title: str) -> Panel:
    """Error ratio over the last hour as a multiple of the budget (1 = burning exactly the budget)."""
    queries = tuple(
        (
            f'{ERROR_RATIO_RECORD}1h{{slo="{s.kind.value}",{s.label}="{s.subject}"}}'
            f' / on (slo, {s.label}) {BUDGET_RECORD}{{slo="{s.kind.value}",{s.label}="{s.subject}"}}',
            f"{s.subject} {s.kind.value}",
        )
        for s in slos
    )
    return Panel(title, "short", queries, "Burn rate over 1h: 1 spends the 30-day budget exactly; 14.4 pages.")


def _model_panels(model: str, slos: list[Slo]) -> list[Panel]:
    requests = m.exposed(m.MODEL_REQUESTS)
    scope = f'route="{m.DECISION_ROUTE}",model="{model}"'
    latency = f"{m.MODEL_REQUEST_SECONDS}_bucket{{{scope}}}"
    return [
        Panel(
            "Decisions per second by status",
            "reqps",
            ((f"sum by (status) (rate({requests}{{{scope}}}[5m]))", "{{status}}"),),
        ),
        Panel(
            "Decisions per second by version and outcome",
            "reqps",
            ((f"sum by (version, outcome) (rate({requests}{{{scope}}}[5m]))", "{{version}} {{outcome}}"),),
        ),
        Panel(
            "Decision latency",
            "s",
            tuple(
                (f"histogram_quantile({q}, sum by (le) (rate({latency}[5m])))", f"p{round(q * 100)}")
                for q in (0.5, 0.9, 0.99)
            ),
        ),
        _budget_panel(slos, "Error budget burn rate"),
    ]


def _monitoring_panels(model: MonitoredModel) -> list[Panel]:
    """The scheduled report's figures, as the alerts read them (the latest result of the last two schedules)."""
    window = format_duration(model.lookback)

    def last(metric: str, extra: str = "") -> str:
        return f'last_over_time({metric}{{model="{model.name}"{extra}}}[{window}])'

    act = f"vector({model.psi_act!r})"
    against_reference = ',against="reference"'
    return [
        Panel(
            "Input PSI against the training profile",
            "short",
            ((f"max by (input) ({last(m.INPUT_PSI, against_reference)})", "{{input}}"), (act, "act")),
            "Population stability of each input in the latest monitoring report; at act it raises ModelInputDrift.",
        ),
        Panel(
            "Score PSI by version",
            "short",
            ((f"max by (version, against) ({last(m.SCORE_PSI)})", "{{version}} vs {{against}}"), (act, "act")),
        ),
        Panel(
            "Approval rate by version and role",
            "percentunit",
            ((f"max by (version, role) ({last(m.APPROVAL_RATE)})", "{{version}} {{role}}"),),
        ),
        Panel(
            "Age of the latest monitoring report",
            "s",
            (
                (f"time() - max({last(m.MONITORING_AS_OF)})", "age"),
                (f"vector({int(model.lookback.total_seconds())})", "missing after"),
            ),
        ),
    ]


def _view_panels(view: str, slos: list[Slo]) -> list[Panel]:
    freshness = next((s for s in slos if s.kind is SloKind.VIEW_FRESHNESS), None)
    age: list[tuple[str, str]] = [(f'time() - max({m.VIEW_NEWEST_EVENT}{{view="{view}"}})', "age of newest event")]
    if freshness is not None and freshness.max_age is not None:
        age.append((f"vector({int(freshness.max_age.total_seconds())})", "max age (objective)"))
    runs = m.exposed(m.MATERIALIZATION_RUNS)
    served = m.exposed(m.FEATURE_SERVER_VALUES)
    return [
        Panel("Age of the newest stored event", "s", tuple(age)),
        Panel(
            "Materialization runs per hour by result",
            "short",
            ((f'max by (result) (increase({runs}{{view="{view}"}}[1h]))', "{{result}}"),),
        ),
        Panel(
            "Served values per second by status",
            "short",
            ((f'sum by (status) (rate({served}{{view="{view}"}}[5m]))', "{{status}}"),),
        ),
        _budget_panel(slos, "Error budget burn rate"),
    ]


def _overview(slos: list[Slo]) -> dict[str, Any]:
    requests = m.exposed(m.MODEL_REQUESTS)
    panels = [
        Panel(
            "Decisions per second by model",
            "reqps",
            ((f'sum by (model) (rate({requests}{{route="{m.DECISION_ROUTE}"}}[5m]))', "{{model}}"),),
        ),
        Panel(
            "Feature server requests per second by status",
            "reqps",
            ((f"sum by (status) (rate({m.exposed(m.FEATURE_SERVER_RESPONSES)}[5m]))", "{{status}}"),),
        ),
        _budget_panel([s for s in slos if s.label == "model"], "Models: error budget burn rate"),
        _budget_panel([s for s in slos if s.label == "view"], "Feature views: error budget burn rate"),
        Panel(
            "Age of the newest stored event by view",
            "s",
            ((f"time() - max by (view) ({m.VIEW_NEWEST_EVENT})", "{{view}}"),),
        ),
        Panel("Scrape targets up", "short", (('sum by (job) (up{job=~"mlplat-.+"})', "{{job}}"),)),
    ]
    return dashboard("mlplat-overview", "mlplat: overview", panels, ["overview"])


def catalog_dashboards(catalog: Catalog) -> dict[str, dict[str, Any]]:
    """File name -> dashboard: ``overview.json``, ``model-<name>.json``, ``view-<name>.json``."""
    slos = catalog_slos(catalog)
    boards = {"overview.json": _overview(slos)}
    for monitored in catalog_monitored_models(catalog):
        model = monitored.name
        own = [s for s in slos if s.label == "model" and s.subject == model]
        uid = f"mlplat-model-{model}".replace("_", "-")
        panels = _model_panels(model, own) + _monitoring_panels(monitored)
        boards[f"model-{model}.json"] = dashboard(uid, f"mlplat: model {model}", panels, ["model"])
    for view, spec in sorted(catalog.feature_views.items()):
        if not spec.spec.online:
            continue
        own = [s for s in slos if s.label == "view" and s.subject == view]
        uid = f"mlplat-view-{view}".replace("_", "-")
        boards[f"view-{view}.json"] = dashboard(uid, f"mlplat: feature view {view}", _view_panels(view, own), ["view"])
    return boards


def render(board: dict[str, Any]) -> str:
    """The committed form: stable key order, two-space indent, trailing newline."""
    return json.dumps(board, indent=2, sort_keys=True) + "\n"
