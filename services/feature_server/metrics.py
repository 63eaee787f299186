"""Prometheus metrics of one feature-server process.

Each app gets its own registry, so several apps (tests) never collide. Run one worker
process per pod and scale with replicas: each process exposes its own numbers.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from mlplat.online_store import ViewStatus
from mlplat.operations import metric_names as names

#: Buckets around the millisecond latencies this server aims at.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class ViewStatusCollector(Collector):
    """Per online view: newest stored event time and materialization runs, as the store last told.

    The values live in the online store (written by every write and by materialization),
    so every replica exports the same numbers; rules take one replica's (``max``). Every
    view is always exported (0 before its first event or run), so a view that never got
    data shows as stale rather than as nothing, and run counters start at 0.
    """

    def __init__(self, views: Sequence[str]) -> None:
        self.views = tuple(views)
        self.statuses: dict[str, ViewStatus] = {}

    def collect(self) -> Iterator[Metric]:
        newest = GaugeMetricFamily(
            names.VIEW_NEWEST_EVENT,
            "Event time (Unix seconds) of the newest value the online store holds for the view; 0 before the first.",
            labels=["view"],
        )
        runs = CounterMetricFamily(
            names.MATERIALIZATION_RUNS,
            "Materialization runs of the view that recorded their end in the online store, by result.",
            labels=["view", "result"],
        )
        for view in self.views:
            status = self.statuses.get(view, ViewStatus())
            newest.add_metric([view], (status.newest_event_micros or 0) / 1e6)
            runs.add_metric([view, names.RUN_SUCCEEDED], status.runs_succeeded)
            runs.add_metric([view, names.RUN_FAILED], status.runs_failed)
        yield newest
        yield runs


class Metrics:
    """Request and store latencies, answers by status, served values by freshness, view freshness."""

    def __init__(self, online_views: Sequence[str] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.views = ViewStatusCollector(online_views)
        self.registry.register(self.views)
        self.request_seconds = Histogram(
            names.FEATURE_SERVER_REQUEST_SECONDS,
            "Time to answer a request, by endpoint.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.responses = Counter(
            names.FEATURE_SERVER_RESPONSES,
            "Answers by endpoint, HTTP status and caller (a Caller of the specs, 'unknown' or 'anonymous').",
            ["endpoint", "status", "caller"],
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
            names.FEATURE_SERVER_VALUES,
            "Feature values served, by view and status (PRESENT, NOT_FOUND, OUTSIDE_MAX_AGE).",
            ["view", "status"],
            registry=self.registry,
        )
        self.shed = Counter(
            names.FEATURE_SERVER_SHED,
            "Requests answered 503 at once by admission control, by reason: 'queue' (the event loop ran later "
            "than MLPLAT_MAX_QUEUE_MS) or 'in_flight' (MLPLAT_MAX_IN_FLIGHT requests were in flight).",
            ["reason"],
            registry=self.registry,
        )
        # Both reasons are exported from the start (at 0), so a rate over them is never empty.
        self._shed = {reason: self.shed.labels(reason) for reason in names.SHED_REASONS}

        # Bound children by label values: looking labels up costs more than observing.
        self._children: dict[tuple[str, ...], Any] = {}

    def count_shed(self, reason: str) -> None:
        """One request shed by admission control for ``reason`` (one of ``SHED_REASONS``)."""
        self._shed[reason].inc()

    def _child(self, metric: Histogram | Counter, *labels: str) -> Any:
        key = (str(id(metric)), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def observe_request(self, endpoint: str, status: int, seconds: float, caller: str) -> None:
        self._child(self.request_seconds, endpoint).observe(seconds)
        self._child(self.responses, endpoint, str(status), caller).inc()

    def observe_store(self, operation: str, seconds: float) -> None:
        self._child(self.store_seconds, operation).observe(seconds)

    def count_values(self, tally: Mapping[tuple[str, str], int]) -> None:
        for (view, status), count in tally.items():
            self._child(self.values, view, status).inc(count)

    def views_seen(self, statuses: Mapping[str, ViewStatus]) -> None:
        """The store's latest view statuses; exported until the next successful read."""
        self.views.statuses = dict(statuses)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
