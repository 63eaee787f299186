"""The model-monitoring alerts: one rule per model and figure at the spec's thresholds, each shown firing and
quiet by ``promtool test rules`` on series shaped like a scheduled report's (gauges that hold still)."""

from __future__ import annotations

import re
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from mlplat.catalog import Catalog
from mlplat.loader import load_catalog
from mlplat.operations import metric_names as m
from mlplat.operations.model_monitoring import (
    APPROVAL_RATE_SHIFT,
    INPUT_DRIFT,
    INPUT_MISSING,
    INPUT_STALE,
    MONITORING_ALERTS,
    REALIZED_AUC_LOW,
    REPORT_MISSING,
    SCORE_DRIFT,
    MonitoredModel,
    catalog_monitored_models,
    monitoring_group,
)
from mlplat.operations.rules import RuleFile, all_alerts, catalog_rules
from tests.servers import system_tool

SPECS = Path(__file__).resolve().parents[3] / "specs"
MODEL = "default_risk"
#: What a scrape of the report's gauges adds to each series.
SCRAPED = {"job": "mlplat-model-monitoring", "instance": "textfile"}
FICO = "bureau_profile:fico_score"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(SPECS)


@pytest.fixture(scope="module")
def model(catalog: Catalog) -> MonitoredModel:
    return next(found for found in catalog_monitored_models(catalog) if found.name == MODEL)


def test_every_model_gets_every_alert_at_its_spec_thresholds(catalog: Catalog) -> None:
    rules = catalog_rules(catalog).to_dict()
    for name, spec in catalog.models.items():
        [group] = [g for g in rules["groups"] if g["name"] == f"model-monitoring-{name.replace('_', '-')}"]
        by_alert = {rule["alert"]: rule for rule in group["rules"]}
        assert set(by_alert) == {alert.name for alert in MONITORING_ALERTS}
        assert all(rule["labels"] == {"severity": "ticket", "model": name} for rule in group["rules"])
        monitoring = spec.spec.monitoring
        assert by_alert[INPUT_DRIFT.name]["expr"].endswith(f">= {monitoring.psi.act!r}")
        assert by_alert[APPROVAL_RATE_SHIFT.name]["expr"].endswith(f">= {monitoring.approval_rate_shift.act!r}")
        assert by_alert[REALIZED_AUC_LOW.name]["expr"].endswith(f"< {monitoring.min_realized_auc!r}")
        assert by_alert[REPORT_MISSING.name]["for"] == "1h"
        assert all("[2h])" in rule["expr"] for rule in group["rules"])
    assert {a.name for a in MONITORING_ALERTS} <= {a.name for a in all_alerts()}


def test_the_lookback_follows_the_schedule(model: MonitoredModel) -> None:
    daily = MonitoredModel(**{**model.__dict__, "schedule": timedelta(days=1)})
    rules = {r["alert"]: r for r in monitoring_group(daily, "docs/runbooks")["rules"]}
    assert "[2d])" in rules[INPUT_DRIFT.name]["expr"]
    assert "> 172800" in rules[REPORT_MISSING.name]["expr"]
    assert rules[REPORT_MISSING.name]["for"] == "1d"


# --- promtool ---------------------------------------------------------------------------------


def _scraped(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    """A promtool input series: ``name`` with ``labels`` as a scrape of the report's gauges has them."""
    matchers = ",".join(f'{k}="{v}"' for k, v in {**SCRAPED, **labels}.items())
    return {"series": f"{name}{{{matchers}}}", "values": values}


def _series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    return _scraped(name, {"model": MODEL, **labels}, values)


def _held(value: float, minutes: int = 300) -> str:
    """A gauge a report set and the next reports kept: one value every minute."""
    return f"{value!r}x{minutes}"


def _fresh_report() -> dict[str, str]:
    return _series(m.MONITORING_AS_OF, {}, "0+60x300")  # each sample's as-of is its own time


def _expected(rule: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    all_labels = {**labels, **rule["labels"]}
    expand = lambda text: re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda g: all_labels.get(g.group(1), ""), text)  # noqa: E731
    return {"exp_labels": all_labels, "exp_annotations": {k: expand(v) for k, v in rule["annotations"].items()}}


def _case(
    rules: dict[str, dict[str, Any]],
    alert: str,
    series: list[dict[str, str]],
    at: str,
    firing: dict[str, str] | None,
) -> dict[str, Any]:
    expected = [_expected(rules[alert], firing)] if firing is not None else []
    return {
        "interval": "1m",
        "input_series": series,
        "alert_rule_test": [{"eval_time": at, "alertname": alert, "exp_alerts": expected}],
    }


def _cases(rules: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    fico = {"input": FICO, "against": "reference"}
    v2 = {"version": "v2", "against": "previous"}
    primary, shadow = {"version": "v2", "role": "primary"}, {"version": "v1", "role": "shadow"}
    missing = {"input": "repayment_history:plans_12m"}
    fresh = _fresh_report()
    return [
        _case(
            rules,
            INPUT_DRIFT.name,
            [fresh, _series(m.INPUT_PSI, fico, _held(0.31))],
            "30m",
            {**SCRAPED, "model": MODEL, **fico},
        ),
        _case(rules, INPUT_DRIFT.name, [fresh, _series(m.INPUT_PSI, fico, _held(0.2))], "30m", None),
        # One report, then none: its result stays visible for two schedules, then drops out.
        _case(
            rules,
            INPUT_DRIFT.name,
            [fresh, _series(m.INPUT_PSI, fico, "0.4 _x300")],
            "110m",
            {**SCRAPED, "model": MODEL, **fico},
        ),
        _case(rules, INPUT_DRIFT.name, [fresh, _series(m.INPUT_PSI, fico, "0.4 _x300")], "130m", None),
        _case(
            rules,
            SCORE_DRIFT.name,
            [fresh, _series(m.SCORE_PSI, v2, _held(0.25))],
            "30m",
            {**SCRAPED, "model": MODEL, **v2},
        ),
        _case(rules, SCORE_DRIFT.name, [fresh, _series(m.SCORE_PSI, v2, _held(0.24))], "30m", None),
        _case(
            rules,
            APPROVAL_RATE_SHIFT.name,
            [fresh, _series(m.APPROVAL_RATE_SHIFT, primary, _held(0.12))],
            "30m",
            {**SCRAPED, "model": MODEL, **primary},
        ),
        # A shadow decides nothing: its shift is reported, not alerted on.
        _case(
            rules,
            APPROVAL_RATE_SHIFT.name,
            [
                fresh,
                _series(m.APPROVAL_RATE_SHIFT, primary, _held(0.04)),
                _series(m.APPROVAL_RATE_SHIFT, shadow, _held(0.3)),
            ],
            "30m",
            None,
        ),
        _case(
            rules,
            INPUT_MISSING.name,
            [
                fresh,
                _series(m.INPUT_MISSING_SHARE, missing, _held(0.46)),
                _series(m.INPUT_REFERENCE_MISSING_SHARE, missing, _held(0.35)),
            ],
            "30m",
            {"model": MODEL, **missing},
        ),
        # Missing for a third of applicants, as in training: no alert.
        _case(
            rules,
            INPUT_MISSING.name,
            [
                fresh,
                _series(m.INPUT_MISSING_SHARE, missing, _held(0.36)),
                _series(m.INPUT_REFERENCE_MISSING_SHARE, missing, _held(0.35)),
            ],
            "30m",
            None,
        ),
        _case(
            rules,
            INPUT_STALE.name,
            [fresh, _series(m.INPUT_STALE_SHARE, missing, _held(0.06))],
            "30m",
            {**SCRAPED, "model": MODEL, **missing},
        ),
        _case(rules, INPUT_STALE.name, [fresh, _series(m.INPUT_STALE_SHARE, missing, _held(0.01))], "30m", None),
        _case(
            rules,
            REALIZED_AUC_LOW.name,
            [fresh, _series(m.REALIZED_AUC, {}, _held(0.55))],
            "30m",
            {**SCRAPED, "model": MODEL},
        ),
        _case(rules, REALIZED_AUC_LOW.name, [fresh, _series(m.REALIZED_AUC, {}, _held(0.82))], "30m", None),
        _case(rules, REPORT_MISSING.name, [fresh], "240m", None),
        # Reports for half an hour, then none: two schedules later (and one schedule of `for`) it fires.
        _case(rules, REPORT_MISSING.name, [_series(m.MONITORING_AS_OF, {}, "0+60x30")], "200m", None),
        _case(rules, REPORT_MISSING.name, [_series(m.MONITORING_AS_OF, {}, "0+60x30")], "240m", {"model": MODEL}),
        # A report that never came fires as well, once the first run had a schedule's time to come.
        _case(rules, REPORT_MISSING.name, [_series(m.INPUT_PSI, fico, _held(0.1))], "50m", None),
        _case(rules, REPORT_MISSING.name, [_series(m.INPUT_PSI, fico, _held(0.1))], "90m", {"model": MODEL}),
    ]


@pytest.mark.slow
def test_every_monitoring_alert_fires_and_stays_quiet_in_promtool(model: MonitoredModel, tmp_path: Path) -> None:
    promtool = system_tool("promtool", "prometheus")
    rules = RuleFile([monitoring_group(model, "docs/runbooks")])
    (tmp_path / "rules.yaml").write_text(rules.to_yaml())
    by_alert = {r["alert"]: r for g in rules.to_dict()["groups"] for r in g["rules"]}
    tests = _cases(by_alert)
    (tmp_path / "tests.yaml").write_text(
        yaml.safe_dump({"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests}, sort_keys=False)
    )
    checked = subprocess.run(
        [promtool, "check", "rules", str(tmp_path / "rules.yaml")], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr

    result = subprocess.run(
        [promtool, "test", "rules", str(tmp_path / "tests.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    fired = {c["alertname"] for t in tests for c in t["alert_rule_test"] if c["exp_alerts"]}
    quiet = {c["alertname"] for t in tests for c in t["alert_rule_test"] if not c["exp_alerts"]}
    assert fired == quiet == {alert.name for alert in MONITORING_ALERTS}


@pytest.mark.slow
def test_the_documented_example_report_raises_exactly_the_alerts_its_figures_call_for(
    catalog: Catalog, model: MonitoredModel, tmp_path: Path
) -> None:
    """The committed metrics file of docs/monitoring.md (a real `mlplat monitor` run, FICO shifted) as scraped series."""
    promtool = system_tool("promtool", "prometheus")
    text = (SPECS.parent / "docs" / "monitoring" / "example-metrics.prom").read_text()
    series = [
        _scraped(sample.name, sample.labels, _held(sample.value, 60))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name != m.MONITORING_AS_OF  # its as-of is in 2026; promtool's clock starts at 0
    ]
    series.append(_fresh_report())
    rules = RuleFile([monitoring_group(model, "docs/runbooks")])
    (tmp_path / "rules.yaml").write_text(rules.to_yaml())
    by_alert = {r["alert"]: r for g in rules.to_dict()["groups"] for r in g["rules"]}
    scraped = {**SCRAPED, "model": MODEL}
    firing = {
        INPUT_DRIFT.name: [{**scraped, "input": FICO, "against": a} for a in ("reference", "previous")],
        SCORE_DRIFT.name: [{**scraped, "version": "v2", "against": a} for a in ("reference", "previous")],
        APPROVAL_RATE_SHIFT.name: [
            {**scraped, "version": "v2", "role": "primary"}
        ],  # 0.101; the shadow's 0.077 is not  # 0.101; the shadow's 0.077 is not
    }
    checks = [
        {
            "eval_time": "30m",
            "alertname": a.name,
            "exp_alerts": [_expected(by_alert[a.name], labels) for labels in firing.get(a.name, [])],
        }
        for a in MONITORING_ALERTS
    ]
    tests = [{"interval": "1m", "input_series": series, "alert_rule_test": checks}]
    (tmp_path / "tests.yaml").write_text(
        yaml.safe_dump({"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests}, sort_keys=False)
    )

    result = subprocess.run(
        [promtool, "test", "rules", str(tmp_path / "tests.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
