"""A :class:`~mlplat.monitoring.monitor.MonitoringReport` as JSON-ready data and as Prometheus text.

The JSON is the report for machines (``mlplat monitor --format json``). The Prometheus
text (the node exporter's textfile format) carries the figures alerts watch: PSI per
input and per score, approval rate and its shift per version and role, feature health
(with each input's missing share in training, the baseline of its missing share),
refusal and error rates, the latest realized AUC, and the report's as-of time.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from mlplat.monitoring.monitor import MonitoringReport


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def to_json(report: MonitoringReport) -> dict[str, Any]:
    """The whole report as JSON-ready data, with its overall level and the drifted inputs."""
    data: dict[str, Any] = _plain(report)
    data["monitoring"] = report.monitoring.model_dump(mode="json", by_alias=True)
    data["reference"] = {
        "version": report.reference.version,
        "sha256": report.reference.sha256,
        "rows": report.reference.rows,
        "holdout_start": report.reference.holdout_start,
    }
    for volume, raw in zip(report.volumes, data["volumes"], strict=True):
        raw.update(refusal_rate=volume.refusal_rate, error_rate=volume.error_rate)
    data["level"] = report.level.value
    data["drifted"] = report.drifted()
    return data


def to_prometheus(report: MonitoringReport) -> bytes:
    """The alerting figures of ``report`` in the Prometheus text format."""
    registry = CollectorRegistry()
    model = report.model

    def gauge(name: str, help_text: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(name, help_text, ("model", *labels), registry=registry)

    input_psi = gauge("mlplat_model_input_psi", "PSI of a model input in the report's window.", ("input", "against"))
    score_psi = gauge(
        "mlplat_model_score_psi", "PSI of a version's score in the report's window.", ("version", "against")
    )
    for distribution in report.inputs:
        for against, value in (("reference", distribution.psi_reference), ("previous", distribution.psi_previous)):
            if value is not None:
                input_psi.labels(model, distribution.name, against).set(value)
    for distribution in report.scores:
        version = distribution.name.removeprefix("score ")
        for against, value in (("reference", distribution.psi_reference), ("previous", distribution.psi_previous)):
            if value is not None:
                score_psi.labels(model, version, against).set(value)
    _rates(report, gauge)
    _health(report, gauge)
    gauge("mlplat_model_monitoring_as_of_seconds", "End of the last monitoring report's window (Unix time).").labels(
        model
    ).set(report.as_of.timestamp())
    return generate_latest(registry)


def _rates(report: MonitoringReport, gauge: Any) -> None:
    rate = gauge("mlplat_model_approval_rate", "Approval rate of a version in the window.", ("version", "role"))
    shift = gauge(
        "mlplat_model_approval_rate_shift",
        "Absolute approval-rate change against the previous window.",
        ("version", "role"),
    )
    for entry in report.rates:
        if entry.approval_rate is not None:
            rate.labels(report.model, entry.version, entry.role).set(entry.approval_rate)
        if entry.shift is not None:
            shift.labels(report.model, entry.version, entry.role).set(entry.shift)
    current = report.volumes[0]
    refusals = gauge("mlplat_model_refusal_rate", "Share of requests refused in the window.")
    errors = gauge("mlplat_model_error_rate", "Share of requests answered with an error in the window.")
    if current.refusal_rate is not None and current.error_rate is not None:
        refusals.labels(report.model).set(current.refusal_rate)
        errors.labels(report.model).set(current.error_rate)
    gauge("mlplat_model_monitored_requests", "Requests in the report's window.").labels(report.model).set(
        current.requests
    )
    performance = report.performance
    known = [m for m in performance.months if m.auc is not None] if performance else []
    if known:
        gauge("mlplat_model_realized_auc", "AUC of the latest decision month with outcomes.").labels(report.model).set(
            known[-1].auc
        )


def _health(report: MonitoringReport, gauge: Any) -> None:
    missing = gauge("mlplat_model_input_missing_share", "Share of decisions an input was missing for.", ("input",))
    stale = gauge(
        "mlplat_model_input_stale_share", "Share of decisions an input was stale (outside its ttl) for.", ("input",)
    )
    baseline = gauge(
        "mlplat_model_input_reference_missing_share",
        "Share of the training population an input was missing for (the reference profile).",
        ("input",),
    )
    for entry in report.health:
        if entry.missing_share is not None and entry.stale_share is not None:
            missing.labels(report.model, entry.ref).set(entry.missing_share)
            stale.labels(report.model, entry.ref).set(entry.stale_share)
            baseline.labels(report.model, entry.ref).set(entry.reference_missing_share)
