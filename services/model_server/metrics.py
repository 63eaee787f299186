"""Prometheus metrics of one model server, on a registry of its own (one per app)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from mlplat.operations import metric_names as names

#: Request latencies are a few milliseconds; buckets resolve the SLO range finely.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
#: Labels of every request: which model and version answered, and how. All bounded: models and
#: versions come from the catalog (:data:`~mlplat.operations.metric_names.UNKNOWN_MODEL` for any
#: other name), outcomes from the decision policy, statuses from the server, callers from the
#: specs' ``Caller`` objects (``unknown`` for a verified identity no Caller names, ``anonymous``
#: when identity is off).
REQUEST_LABELS = ("route", "model", "version", "outcome", "status", "caller")
#: ``outcome`` of a request that failed (any status but 200), and of a scored V2 inference.
ERROR_OUTCOME = "error"
SCORED_OUTCOME = "scored"


def latency_buckets(slo_seconds: Sequence[float] = ()) -> tuple[float, ...]:
    """:data:`LATENCY_BUCKETS` plus each latency objective, so an SLO reads an exact bucket."""
    return tuple(sorted({*LATENCY_BUCKETS, *slo_seconds}))


@dataclass
class Metrics:
    """The server's instruments."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    slo_seconds: Sequence[float] = ()
    """Latency objectives of the served models (``serving.latencySloMs``), added to the buckets."""

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            names.MODEL_REQUESTS,
            "Requests by route, model, version that answered, outcome, HTTP status and caller (a Caller of the specs, 'unknown' or 'anonymous').",
            REQUEST_LABELS,
            registry=r,
        )
        self.latency = Histogram(
            names.MODEL_REQUEST_SECONDS,
            "Request latency by route and model.",
            ["route", "model"],
            buckets=latency_buckets(self.slo_seconds),
            registry=r,
        )
        self._children: dict[tuple[str, ...], Any] = {}
        self.shed = Counter(
            names.MODEL_SHED,
            "Requests answered 503 at once by admission control, by reason: 'queue' (the event loop ran later "
            "than MLPLAT_MAX_QUEUE_MS) or 'in_flight' (MLPLAT_MAX_IN_FLIGHT requests were in flight).",
            ["reason"],
            registry=r,
        )
        # Both reasons are exported from the start (at 0), so a rate over them is never empty.
        self._shed = {reason: self.shed.labels(reason) for reason in names.SHED_REASONS}
        self.decisions = Counter(
            "mlplat_model_decisions",
            "Decisions by model, version, outcome and whether the canary took them.",
            ["model", "version", "outcome", "canary"],
            registry=r,
        )
        self.shadow = Counter(
            "mlplat_model_shadow_decisions",
            "Shadow scorings by model, version, and agreement with the returned decision.",
            ["model", "version", "agrees"],
            registry=r,
        )
        self.feature_status = Counter(
            "mlplat_model_feature_values", "Feature values read, by view and status.", ["view", "status"], registry=r
        )
        self.ready = Gauge(
            "mlplat_model_version_ready", "1 if the version is loaded.", ["model", "version"], registry=r
        )
        self.store_up = Gauge("mlplat_model_online_store_up", "0 while the online store is failing.", registry=r)
        self.log_batch = Histogram(
            "mlplat_decision_log_batch_records",
            "Records per decision-log group commit.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
            registry=r,
        )
        self.log_flush = Histogram(
            "mlplat_decision_log_flush_seconds",
            "Time a batch holds up its decisions: write + fdatasync, the write alone with write durability, or PutRecords.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.store_up.set(1)

    def count_shed(self, reason: str) -> None:
        """One request shed by admission control for ``reason`` (one of ``SHED_REASONS``)."""
        self._shed[reason].inc()

    def observe_request(
        self, route: str, model: str, version: str, outcome: str, status: int, seconds: float, caller: str
    ) -> None:
        """Count and time one request; the one place request labels are set."""
        key = (route, model, version, outcome, str(status), caller)
        counter = self._children.get(key)
        if counter is None:
            counter = self._children[key] = self.requests.labels(*key)
        counter.inc()
        timer = self._children.get((route, model))
        if timer is None:
            timer = self._children[(route, model)] = self.latency.labels(route, model)
        timer.observe(seconds)

    def observe_flush(self, records: int, seconds: float) -> None:
        self.log_batch.observe(records)
        self.log_flush.observe(seconds)
