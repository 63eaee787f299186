"""Prometheus metrics of one model server, on a registry of its own (one per app)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

#: Request latencies are a few milliseconds; buckets resolve the SLO range finely.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


@dataclass
class Metrics:
    """The server's instruments."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "mlplat_model_requests", "Requests by route and HTTP status.", ["route", "status"], registry=r
        )
        self.latency = Histogram(
            "mlplat_model_request_seconds", "Request latency by route.", ["route"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.shed = Counter(
            "mlplat_model_shed_requests",
            "Requests answered 503 at once because the in-flight cap (MLPLAT_MAX_IN_FLIGHT) was reached.",
            registry=r,
        )
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

    def observe_flush(self, records: int, seconds: float) -> None:
        self.log_batch.observe(records)
        self.log_flush.observe(seconds)
