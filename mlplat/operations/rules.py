"""Prometheus recording rules and multi-window, multi-burn-rate alerts for the catalog's SLOs.

Each SLO gets one rule group: its error ratio over every window the alerts use
(``slo:sli_error:ratio_rate<window>``) and its error budget (``slo:error_budget:ratio``),
labelled ``slo=<kind>`` and ``model``/``view``. Alerts then compare the two per kind, so
one alert serves every model or view, each at its own objective. The windows and burn
factors are the Google SRE workbook's (chapter 5, "Alerting on SLOs"): a page when 2% of
a 30-day budget burns in an hour or 5% in six hours, a ticket when 10% burns in three days
or in a day at three times the sustainable rate; the short window of each pair makes the
alert resolve soon after the burn stops.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import yaml

from mlplat.catalog import Catalog
from mlplat.errors import UsageError
from mlplat.operations import metric_names as m
from mlplat.operations.alerts import RUNBOOK_DIR, AlertInfo, Severity, alert_annotations
from mlplat.operations.model_monitoring import MONITORING_ALERTS, catalog_monitored_models, monitoring_group
from mlplat.operations.objectives import SUBJECT_LABEL, Slo, SloKind, catalog_slos
from mlplat.spec.types import format_duration

#: Scrape job names of the services; the managed scraper and ``mlplat up`` use the same.
FEATURE_SERVER_JOB = "mlplat-feature-server"
MODEL_SERVER_JOB = "mlplat-model-server"
SERVICE_JOBS = (FEATURE_SERVER_JOB, MODEL_SERVER_JOB)


@dataclass(frozen=True)
class BurnWindow:
    """Alert when the error ratio exceeds ``factor`` times the budget over both windows."""

    long: timedelta
    short: timedelta
    factor: float
    severity: Severity


#: The SRE workbook's windows for a 30-day SLO.
WORKBOOK_WINDOWS = (
    BurnWindow(timedelta(hours=1), timedelta(minutes=5), 14.4, Severity.PAGE),
    BurnWindow(timedelta(hours=6), timedelta(minutes=30), 6, Severity.PAGE),
    BurnWindow(timedelta(days=1), timedelta(hours=2), 3, Severity.TICKET),
    BurnWindow(timedelta(days=3), timedelta(hours=6), 1, Severity.TICKET),
)


@dataclass(frozen=True)
class AlertPolicy:
    """How SLOs become alerts: burn windows, the scrape-failure delay and where runbooks are."""

    windows: tuple[BurnWindow, ...] = WORKBOOK_WINDOWS
    target_down_for: timedelta = timedelta(minutes=10)
    """How long a service's ``/metrics`` must fail before :data:`TARGET_DOWN` fires."""
    runbook_base: str = RUNBOOK_DIR
    """Prefix of each ``runbook_url`` (a repository path, or a URL of the rendered docs)."""

    def scaled(self, ratio: float) -> AlertPolicy:
        """Every duration multiplied by ``ratio``: the same rules on a compressed clock (demos, end-to-end tests)."""
        if not 0 < ratio <= 1:
            raise UsageError(f"alert policy scale {ratio!r}: give a ratio in (0, 1], e.g. 1/60 for minutes as seconds")
        windows = tuple(replace(w, long=w.long * ratio, short=w.short * ratio) for w in self.windows)
        return replace(self, windows=windows, target_down_for=self.target_down_for * ratio)

    def durations(self) -> list[timedelta]:
        """Every rate window the alerts read, shortest first."""
        return sorted({d for w in self.windows for d in (w.long, w.short)})


_KIND_TITLE = {
    SloKind.MODEL_AVAILABILITY: ("ModelAvailability", "availability"),
    SloKind.MODEL_LATENCY: ("ModelLatency", "latency"),
    SloKind.VIEW_FRESHNESS: ("FeatureViewFreshness", "freshness"),
    SloKind.MATERIALIZATION_SUCCESS: ("MaterializationSuccess", "materialization success"),
}
_SEVERITY_SUFFIX = {Severity.PAGE: "FastBurn", Severity.TICKET: "SlowBurn"}

TARGET_DOWN = AlertInfo(
    "ServiceMetricsDown",
    Severity.TICKET,
    "{{ $labels.job }} {{ $labels.instance }}: /metrics has not answered a scrape",
)


def burn_alert(kind: SloKind, severity: Severity) -> AlertInfo:
    """The alert of one SLO kind at one severity, e.g. ``ModelAvailabilityFastBurn``."""
    title, what = _KIND_TITLE[kind]
    label = SUBJECT_LABEL[kind]
    speed = "fast" if severity is Severity.PAGE else "slowly"
    return AlertInfo(
        f"{title}{_SEVERITY_SUFFIX[severity]}",
        severity,
        f"{{{{ $labels.{label} }}}}: {what} error budget burning {speed}",
        kind,
    )


#: The workbook's policy, with runbooks in the repository.
DEFAULT_POLICY = AlertPolicy()


def all_alerts(policy: AlertPolicy = DEFAULT_POLICY) -> list[AlertInfo]:
    """Every alert the rules can contain, whatever the catalog (the runbooks cover exactly these)."""
    severities = sorted({w.severity for w in policy.windows}, key=list(Severity).index)
    burns = [burn_alert(kind, severity) for kind in SloKind for severity in severities]
    return [*burns, TARGET_DOWN, *MONITORING_ALERTS]


# --- SLIs --------------------------------------------------------------------------------


def _selector(metric: str, labels: Mapping[str, str], regex: Mapping[str, str] | None = None) -> str:
    matchers = [f'{k}="{v}"' for k, v in labels.items()] + [f'{k}=~"{v}"' for k, v in (regex or {}).items()]
    return f"{metric}{{{','.join(matchers)}}}"


def _window(value: timedelta) -> str:
    return format_duration(value)


def error_ratio(slo: Slo, window: timedelta) -> str:
    """PromQL of the SLO's share of bad events (or bad time) over ``window``."""
    w = _window(window)
    if slo.kind is SloKind.MODEL_AVAILABILITY:
        requests = m.exposed(m.MODEL_REQUESTS)
        scope = {"route": m.DECISION_ROUTE, "model": slo.subject}
        bad = _selector(requests, scope, {"status": "5.."})
        return f"(sum(rate({bad}[{w}])) or vector(0)) / sum(rate({_selector(requests, scope)}[{w}]))"
    if slo.kind is SloKind.MODEL_LATENCY:
        assert slo.latency_seconds is not None
        scope = {"route": m.DECISION_ROUTE, "model": slo.subject}
        fast = _selector(f"{m.MODEL_REQUEST_SECONDS}_bucket", {**scope, "le": m.le_label(slo.latency_seconds)})
        total = _selector(f"{m.MODEL_REQUEST_SECONDS}_count", scope)
        return f"1 - sum(rate({fast}[{w}])) / sum(rate({total}[{w}]))"
    if slo.kind is SloKind.VIEW_FRESHNESS:
        return f"avg_over_time({_selector(STALE_RECORD, _labels(slo))}[{w}])"
    runs = m.exposed(m.MATERIALIZATION_RUNS)
    # Every feature server exports the same store-kept counts: take one replica's view, not the sum.
    failed = _selector(runs, {"view": slo.subject, "result": m.RUN_FAILED})
    return (
        f"(max(rate({failed}[{w}])) or vector(0))"
        f" / max(sum without (result) (rate({_selector(runs, {'view': slo.subject})}[{w}])))"
    )


#: 1 while a view's newest stored event is older than its ``maxAge``, else 0 (recorded each evaluation).
STALE_RECORD = "slo:stale:bool"
ERROR_RATIO_RECORD = "slo:sli_error:ratio_rate"
BUDGET_RECORD = "slo:error_budget:ratio"


def _labels(slo: Slo) -> dict[str, str]:
    return {"slo": slo.kind.value, slo.label: slo.subject}


def slo_group(slo: Slo, policy: AlertPolicy) -> dict[str, Any]:
    """The recording rules of one SLO."""
    labels = _labels(slo)
    rules: list[dict[str, Any]] = []
    if slo.kind is SloKind.VIEW_FRESHNESS:
        assert slo.max_age is not None
        newest = _selector(m.VIEW_NEWEST_EVENT, {"view": slo.subject})
        age = int(slo.max_age.total_seconds())
        rules.append({"record": STALE_RECORD, "expr": f"(time() - max({newest})) > bool {age}", "labels": labels})
    rules += [
        {"record": f"{ERROR_RATIO_RECORD}{_window(d)}", "expr": error_ratio(slo, d), "labels": labels}
        for d in policy.durations()
    ]
    rules.append({"record": BUDGET_RECORD, "expr": f"vector({slo.error_budget!r})", "labels": labels})
    return {"name": f"slo-{slo.kind.value.replace('_', '-')}-{slo.subject.replace('_', '-')}", "rules": rules}


# --- alerts ------------------------------------------------------------------------------


def _burn_condition(kind: SloKind, window: BurnWindow) -> str:
    scope = f'{{slo="{kind.value}"}}'
    budget = f"{window.factor!r} * {BUDGET_RECORD}{scope}"
    long = f"{ERROR_RATIO_RECORD}{_window(window.long)}{scope}"
    short = f"{ERROR_RATIO_RECORD}{_window(window.short)}{scope}"
    return f"({long} > {budget} and {short} > {budget})"


def _annotations(alert: AlertInfo, policy: AlertPolicy, description: str) -> dict[str, str]:
    return alert_annotations(alert, policy.runbook_base, description)


def burn_rule(kind: SloKind, severity: Severity, policy: AlertPolicy) -> dict[str, Any]:
    """One alert over every SLO of ``kind``: any of the severity's window pairs burning."""
    alert = burn_alert(kind, severity)
    windows = [w for w in policy.windows if w.severity is severity]
    pairs = ", ".join(f"{w.factor!r}x over {_window(w.long)} and {_window(w.short)}" for w in windows)
    description = f"The error ratio exceeds the error budget by {pairs}."
    return {
        "alert": alert.name,
        "expr": " or ".join(_burn_condition(kind, w) for w in windows),
        "labels": {"severity": severity.value},
        "annotations": _annotations(alert, policy, description),
    }


def target_down_rule(policy: AlertPolicy) -> dict[str, Any]:
    jobs = "|".join(SERVICE_JOBS)
    return {
        "alert": TARGET_DOWN.name,
        "expr": f'up{{job=~"{jobs}"}} == 0',
        "for": _window(policy.target_down_for),
        "labels": {"severity": TARGET_DOWN.severity.value},
        "annotations": _annotations(
            TARGET_DOWN, policy, "Prometheus cannot scrape this replica; its SLO metrics are missing while it lasts."
        ),
    }


def alert_group(kinds: Sequence[SloKind], policy: AlertPolicy) -> dict[str, Any]:
    severities = [s for s in Severity if any(w.severity is s for w in policy.windows)]
    rules = [burn_rule(kind, severity, policy) for kind in kinds for severity in severities]
    return {"name": "slo-alerts", "rules": [*rules, target_down_rule(policy)]}


class _PlainDumper(yaml.SafeDumper):
    """Writes shared label maps out in full: rule files are read by people and other tools, not only YAML parsers."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


@dataclass(frozen=True)
class RuleFile:
    """A Prometheus rule file (``groups:``), as data; :meth:`to_yaml` renders it."""

    groups: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"groups": self.groups}

    def to_yaml(self) -> str:
        return str(yaml.dump(self.to_dict(), Dumper=_PlainDumper, sort_keys=False, width=1000))


def rule_file(slos: Sequence[Slo], policy: AlertPolicy = DEFAULT_POLICY) -> RuleFile:
    """Recording rules of every SLO, then the alerts of the kinds present."""
    kinds = [kind for kind in SloKind if any(s.kind is kind for s in slos)]
    return RuleFile([*(slo_group(s, policy) for s in slos), alert_group(kinds, policy)])


def catalog_rules(catalog: Catalog, policy: AlertPolicy = DEFAULT_POLICY) -> RuleFile:
    """The rules of every SLO the catalog implies, then the monitoring alerts of every model."""
    slo_rules = rule_file(catalog_slos(catalog), policy)
    monitoring = [monitoring_group(model, policy.runbook_base) for model in catalog_monitored_models(catalog)]
    return RuleFile([*slo_rules.groups, *monitoring])
