"""Admission control: a cap on the requests in flight, and a fast 503 past it.

One event loop serves every request of a worker process, so each admitted request waits
for the CPU time of the ones ahead of it. Without a cap, an offered load above what the
process can do queues without bound and every answer grows late for as long as the
overload lasts. With a cap of ``N`` requests in flight the last one admitted waits about
``N`` requests' CPU time; the rest are answered at once with ``503 Service Unavailable``
and ``Retry-After``, which a caller (or the load balancer) retries on another replica
or after the pause, while the horizontal pod autoscaler adds replicas (docs/serving.md).

:class:`AdmissionControl` is a pure ASGI middleware: it wraps any app in one line, composes
with other middleware in either order, and keeps no per-request objects. Probes and
``/metrics`` are never shed: a replica busy with real work is alive and ready, and its
metrics are how the overload is seen. The counter runs on the event loop, so no lock is
needed: nothing awaits between the check and the increment.

An admitted request yields to the loop once before its handler runs. Handlers that never
wait (a feature read on the loop) would otherwise each finish before the next request's
task starts, so the count would stay at one while a burst of parsed requests queued behind
it; with the yield, every request the loop has dispatched is counted before any handler
runs, and a burst past the cap is shed in the same pass.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Seconds a shed caller is told to wait; one second is Retry-After's smallest value.
RETRY_AFTER_SECONDS = 1

#: Server CPU per request, measured with benchmarks/ (docs/benchmarks.md): a decision of
#: the model server (features from the store, score, exact reason codes, the log record)
#: and a feature read of the feature server (one entity, 30 features, rounded up).
DECISION_CPU_MS = 2.0
FEATURE_READ_CPU_MS = 0.5

#: The feature server's own latency objective (p99): the store's read time budget
#: (``MLPLAT_ONLINE_STORE_TIMEOUT``'s default, 100 ms) is the most any read may take; a
#: caller's decision objective (``serving.latencySloMs``, 30-50 ms) needs a read well inside it.
FEATURE_READ_OBJECTIVE_MS = 10.0


def in_flight_limit(objective_ms: float, request_cpu_ms: float) -> int:
    """The most requests whose CPU time together fits in the latency objective (at least 1).

    ``N`` requests in flight on one event loop finish at most about ``N * request_cpu_ms``
    after the last one was admitted, so ``N = floor(objective / cost)`` keeps the last
    within the objective. Requests in flight also wait without using the loop (the
    store's round trip, the decision log's fsync): those take no CPU, and a cap of
    ``objective / cost`` leaves them room where a tighter one would shed at normal load
    whenever the disk is slow.
    """
    if objective_ms <= 0 or request_cpu_ms <= 0:
        raise ValueError(f"objective ({objective_ms} ms) and request CPU ({request_cpu_ms} ms) must be positive")
    return max(1, math.floor(objective_ms / request_cpu_ms))


_SHED_BODY = b'{"error":"overloaded: too many requests in flight; retry after the Retry-After seconds"}'


class AdmissionControl:
    """``app`` with at most ``limit`` HTTP requests in flight; past it a 503 with ``Retry-After``.

    ``exempt`` paths (probes, ``/metrics``) and paths for which ``exempt_suffixes`` match
    are never counted nor shed. ``on_shed`` is called once per shed request (a counter's
    ``inc``). :attr:`in_flight` is the number admitted and not yet answered.
    """

    def __init__(
        self,
        app: AsgiApp,
        *,
        limit: int,
        on_shed: Callable[[], None],
        exempt: Collection[str] = (),
        exempt_suffixes: tuple[str, ...] = (),
        retry_after_seconds: int = RETRY_AFTER_SECONDS,
    ) -> None:
        if limit < 1:
            raise ValueError(f"the in-flight limit must be at least 1, not {limit}")
        self.app = app
        self.limit = limit
        self.in_flight = 0
        self._on_shed = on_shed
        self._exempt = frozenset(exempt)
        self._exempt_suffixes = exempt_suffixes
        self._headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(_SHED_BODY)).encode()),
            (b"retry-after", str(retry_after_seconds).encode()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._is_exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            self._on_shed()
            await send({"type": "http.response.start", "status": 503, "headers": self._headers})
            await send({"type": "http.response.body", "body": _SHED_BODY})
            return
        self.in_flight += 1
        try:
            await asyncio.sleep(0)  # let the requests dispatched with this one be counted first
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    def _is_exempt(self, path: str) -> bool:
        return path in self._exempt or (bool(self._exempt_suffixes) and path.endswith(self._exempt_suffixes))
