"""Alerts on the figures ``mlplat monitor --metrics-file`` writes, per model, at its ``spec.monitoring`` thresholds.

The figures are batch results: a scheduled run writes a model's report every
``spec.monitoring.schedule`` and its gauges hold still until the next one. Each rule reads
``last_over_time(...[two schedules])``, so a result stays visible between runs and through
one late run; after two schedules without a report, :data:`REPORT_MISSING` fires instead
(it also catches a report that never came).

Every alert here is a ticket. The figures move over days (a report covers a 7-day window by
default), acting on them (rolling back a primary, pausing a rollout, retraining) needs
model risk's review in working hours, and the failures that hurt within minutes (5xx,
latency, stale online features) already page through the SLO alerts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from mlplat.catalog import Catalog
from mlplat.operations import metric_names as m
from mlplat.operations.alerts import AlertInfo, Severity, alert_annotations
from mlplat.spec.types import format_duration


@dataclass(frozen=True)
class MonitoredModel:
    """One model's monitoring thresholds, as its spec (or the spec's defaults) sets them."""

    name: str
    schedule: timedelta
    psi_act: float
    approval_rate_shift_act: float
    missing_share_rise_act: float
    stale_share_act: float
    min_realized_auc: float

    @property
    def lookback(self) -> timedelta:
        """How long a report's figures stay visible: two schedules (one late run tolerated)."""
        return 2 * self.schedule


def catalog_monitored_models(catalog: Catalog) -> list[MonitoredModel]:
    """Every model the platform serves, in name order: each one is monitored in every stack."""
    models = []
    for name, model in sorted(catalog.models.items()):
        spec = model.spec.monitoring
        models.append(
            MonitoredModel(
                name=name,
                schedule=spec.schedule,
                psi_act=spec.psi.act,
                approval_rate_shift_act=spec.approval_rate_shift.act,
                missing_share_rise_act=spec.missing_share_rise.act,
                stale_share_act=spec.stale_share.act,
                min_realized_auc=spec.min_realized_auc,
            )
        )
    return models


INPUT_DRIFT = AlertInfo(
    "ModelInputDrift",
    Severity.TICKET,
    "{{ $labels.model }}: input {{ $labels.input }} drifted against the {{ $labels.against }} population",
)
SCORE_DRIFT = AlertInfo(
    "ModelScoreDrift",
    Severity.TICKET,
    "{{ $labels.model }}: the score of {{ $labels.version }} drifted against the {{ $labels.against }} population",
)
APPROVAL_RATE_SHIFT = AlertInfo(
    "ModelApprovalRateShift",
    Severity.TICKET,
    "{{ $labels.model }}: the approval rate of {{ $labels.version }} ({{ $labels.role }}) moved against the previous window",
)
INPUT_MISSING = AlertInfo(
    "ModelInputMissing",
    Severity.TICKET,
    "{{ $labels.model }}: input {{ $labels.input }} is missing more often than in training",
)
INPUT_STALE = AlertInfo(
    "ModelInputStale",
    Severity.TICKET,
    "{{ $labels.model }}: input {{ $labels.input }} is scored stale (older than its view's ttl)",
)
REALIZED_AUC_LOW = AlertInfo(
    "ModelRealizedAucLow",
    Severity.TICKET,
    "{{ $labels.model }}: realized AUC of the latest matured decision month is below its floor",
)
REPORT_MISSING = AlertInfo(
    "ModelMonitoringReportMissing",
    Severity.TICKET,
    "{{ $labels.model }}: no monitoring report for two schedules",
)
#: Every model-monitoring alert, whatever the catalog (the runbooks cover exactly these).
MONITORING_ALERTS = (
    INPUT_DRIFT,
    SCORE_DRIFT,
    APPROVAL_RATE_SHIFT,
    INPUT_MISSING,
    INPUT_STALE,
    REALIZED_AUC_LOW,
    REPORT_MISSING,
)
#: The roles whose decisions customers get; a shadow's approval rate is reported, never alerted on.
DECIDING_ROLES = "primary|canary"


def _last(metric: str, model: MonitoredModel, regex: Mapping[str, str] | None = None) -> str:
    matchers = [f'model="{model.name}"'] + [f'{k}=~"{v}"' for k, v in (regex or {}).items()]
    return f"last_over_time({metric}{{{','.join(matchers)}}}[{format_duration(model.lookback)}])"


def _rule(
    alert: AlertInfo, model: MonitoredModel, expr: str, runbook_base: str, description: str, **extra: Any
) -> dict[str, Any]:
    # The `model` label makes each model's rule its own (promtool refuses two rules of one name and labels).
    return {
        "alert": alert.name,
        "expr": expr,
        **extra,
        "labels": {"severity": alert.severity.value, "model": model.name},
        "annotations": alert_annotations(alert, runbook_base, description),
    }


def _report_missing(model: MonitoredModel, runbook_base: str) -> dict[str, Any]:
    as_of = f'{m.MONITORING_AS_OF}{{model="{model.name}"}}'
    window, limit = format_duration(model.lookback), int(model.lookback.total_seconds())
    expr = (
        f"(time() - max by (model) (last_over_time({as_of}[{window}]))) > {limit}"
        f" or absent_over_time({as_of}[{window}])"
    )
    schedule = format_duration(model.schedule)
    description = (
        f"The newest report of {model.name} ends more than {window} ago (two schedules of {schedule}), or none "
        f"came within {window}: every other monitoring alert of the model is blind until one does."
    )
    # `for` one schedule: a new deploy's first run may take up to one schedule to come.
    return _rule(REPORT_MISSING, model, expr, runbook_base, description, **{"for": schedule})


def monitoring_rules(model: MonitoredModel, runbook_base: str) -> list[dict[str, Any]]:
    """The alert rules of one model, each at the model's own threshold and lookback."""
    source = f"from the reports of the last {format_duration(model.lookback)}"
    missing = (
        f"{_last(m.INPUT_MISSING_SHARE, model)} - on (model, input) {_last(m.INPUT_REFERENCE_MISSING_SHARE, model)}"
    )
    return [
        _rule(
            INPUT_DRIFT,
            model,
            f"{_last(m.INPUT_PSI, model)} >= {model.psi_act!r}",
            runbook_base,
            f"PSI at or above {model.psi_act!r} (spec.monitoring.psi.act), {source}.",
        ),
        _rule(
            SCORE_DRIFT,
            model,
            f"{_last(m.SCORE_PSI, model)} >= {model.psi_act!r}",
            runbook_base,
            f"Score PSI at or above {model.psi_act!r} (spec.monitoring.psi.act), {source}.",
        ),
        _rule(
            APPROVAL_RATE_SHIFT,
            model,
            f"{_last(m.APPROVAL_RATE_SHIFT, model, {'role': DECIDING_ROLES})} >= {model.approval_rate_shift_act!r}",
            runbook_base,
            f"Approval rate moved by {model.approval_rate_shift_act!r} or more (spec.monitoring.approvalRateShift.act), {source}.",
        ),
        _rule(
            INPUT_MISSING,
            model,
            f"{missing} >= {model.missing_share_rise_act!r}",
            runbook_base,
            f"Missing share at least {model.missing_share_rise_act!r} above training's (spec.monitoring.missingShareRise.act), {source}.",
        ),
        _rule(
            INPUT_STALE,
            model,
            f"{_last(m.INPUT_STALE_SHARE, model)} >= {model.stale_share_act!r}",
            runbook_base,
            f"Stale share at or above {model.stale_share_act!r} (spec.monitoring.staleShare.act), {source}.",
        ),
        _rule(
            REALIZED_AUC_LOW,
            model,
            f"{_last(m.REALIZED_AUC, model)} < {model.min_realized_auc!r}",
            runbook_base,
            f"Realized AUC below {model.min_realized_auc!r} (spec.monitoring.minRealizedAuc), {source}.",
        ),
        _report_missing(model, runbook_base),
    ]


def monitoring_group(model: MonitoredModel, runbook_base: str) -> dict[str, Any]:
    """The rule group of one model's monitoring alerts."""
    return {"name": f"model-monitoring-{model.name.replace('_', '-')}", "rules": monitoring_rules(model, runbook_base)}
