"""Prometheus metrics of one feature-server process.

Each app gets its own registry, so several apps (tests) never collide. Run one worker
process per pod and scale with replicas: each process exposes its own numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

#: Buckets around the millisecond latencies this server aims at.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """Request and store latencies, answers by status, and served values by freshness."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.request_seconds = Histogram(
            "mlplat_feature_server_request_seconds",
            "Time to answer a request, by endpoint.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.responses = Counter(
            "mlplat_feature_server_responses",
            "Answers by endpoint and HTTP status.",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.store_seconds = Histogram(
            "mlplat_online_store_call_seconds",
            "Time of one online-store call (one round trip), by operation.",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.values = Counter(
            "mlplat_feature_server_values",
            "Feature values served, by view and status (PRESENT, NOT_FOUND, OUTSIDE_MAX_AGE).",
            ["view", "status"],
            registry=self.registry,
        )
        self.shed = Counter(
            "mlplat_feature_server_shed_requests",
            "Requests answered 503 at once because the in-flight cap (MLPLAT_MAX_IN_FLIGHT) was reached.",
            registry=self.registry,
        )

        # Bound children by label values: looking labels up costs more than observing.
        self._children: dict[tuple[str, ...], Any] = {}

    def _child(self, metric: Histogram | Counter, *labels: str) -> Any:
        key = (str(id(metric)), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        self._child(self.request_seconds, endpoint).observe(seconds)
        self._child(self.responses, endpoint, str(status)).inc()

    def observe_store(self, operation: str, seconds: float) -> None:
        self._child(self.store_seconds, operation).observe(seconds)

    def count_values(self, tally: Mapping[tuple[str, str], int]) -> None:
        for (view, status), count in tally.items():
            self._child(self.values, view, status).inc(count)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
