"""Admission control: a fast 503 when the event loop falls behind or too much is in flight.

One event loop serves every request of a worker process, so each admitted request waits
for the CPU time of the ones ahead of it. Without a limit, an offered load above what the
process can do queues without bound and every answer grows late for as long as the
overload lasts. Past a limit a request is answered at once with ``503 Service
Unavailable`` and ``Retry-After``, which a caller (or the load balancer) retries on another
replica or after the pause, while the horizontal pod autoscaler adds replicas
(docs/serving.md). Two signals decide, both measured on the loop itself:

* **Queue delay** (``max_queue_seconds``). When the loop is the bottleneck, requests wait
  where no handler can count them: in the sockets' buffers until the loop next polls,
  and in its ready queue behind the handlers of the requests read before them. A
  callback due every :data:`LAG_PROBE_SECONDS` measures how late the loop runs it (the
  loop's lag, as CoDel measures a packet's sojourn). Two late probes in a row are a
  standing queue (one pause delays one probe); then a request arriving is shed before
  its body is read (:class:`LoopLag` says when). An admitted request yields to the loop
  once before its handler runs, so that every request dispatched in the same pass is
  counted first; while the loop is behind, one that then waited longer than half the
  target for its turn (behind handlers admitted with it) is shed too, which keeps each
  pass of the loop short. The 503 costs the loop tens of microseconds where serving
  costs tenths of milliseconds to milliseconds, so shedding empties the queue within a
  pass or two and the lag falls back under the target.
* **In flight** (``limit``): requests admitted and not yet answered, which also counts the
  ones waiting without the loop (a store round trip, the decision log's fsync).

Served by :class:`services.http_protocol.SheddingHttpToolsProtocol` (both servers are;
:func:`install` wires an app for it), the queue shed happens earlier, as a request's head
is parsed and before uvicorn creates a task or calls the app, and while the loop is behind
one pass of the loop admits only what fits in :data:`PASS_SHARE` of the target
(:class:`EarlyShed`); the rules below still hold for what the protocol passes on.

:class:`AdmissionControl` is a pure ASGI middleware: it wraps any app in one line, composes
with other middleware in either order, and keeps no per-request objects. Probes and
``/metrics`` are never shed: a replica busy with real work is alive and ready, and its
metrics are how the overload is seen. Everything runs on the event loop, so no lock is
needed: nothing awaits between a check and the count it updates.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from typing import TYPE_CHECKING, Any

from mlplat.operations.metric_names import SHED_IN_FLIGHT, SHED_QUEUE

if TYPE_CHECKING:
    from starlette.applications import Starlette

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The ASGI scope key under which the HTTP protocol's early shed (:class:`EarlyShed`) puts the
#: ``time.perf_counter()`` at which it admitted a request: the middleware then skips the checks
#: already made and counts the request's wait from then.
DISPATCHED_AT = "mlplat.dispatched_at"

#: While the loop is behind, the requests admitted into one pass of the loop may take this share
#: of the queue-delay target (:class:`EarlyShed`): a request read meanwhile waits for the pass,
#: then for its own turn in the next, and a decision's continuations (after its log append)
#: wait for a pass each. A tenth (0.5 ms at 5 ms) measured best at 2x saturation
#: (docs/benchmarks.md, *Serving cost and overload*: against a quarter, the admitted p99 of
#: decisions 3.4 against 6.9 ms and of 100 x 30 reads 3.1 against 6.2 ms, for 4-13 % fewer
#: admitted requests); a pass still admits its first request, whatever it costs.
PASS_SHARE = 0.1

#: Seconds a shed caller is told to wait; one second is Retry-After's smallest value.
RETRY_AFTER_SECONDS = 1

#: How often the loop's lag is measured. Each probe is one timer callback (~2 µs): 200 a
#: second cost a replica 0.04 % of a core. uvloop's timers have a resolution of 1 ms
#: (:data:`TIMER_RESOLUTION_SECONDS`), which is taken off every measurement.
LAG_PROBE_SECONDS = 0.005
TIMER_RESOLUTION_SECONDS = 0.001
#: How long after its last shed a server stays quick to shed again (see :class:`LoopLag`).
SHED_MEMORY_SECONDS = 0.1


#: Server CPU per request, measured with benchmarks/ (docs/benchmarks.md): a decision of
#: the model server (features from the store, score, exact reason codes, the log record)
#: and a feature read of the feature server (one entity, 30 features, rounded up).
DECISION_CPU_MS = 2.0
FEATURE_READ_CPU_MS = 0.5

#: The feature server's own latency objective (p99): the store's read time budget
#: (``MLPLAT_ONLINE_STORE_TIMEOUT``'s default, 100 ms) is the most any read may take; a
#: caller's decision objective (``serving.latencySloMs``, 30-50 ms) needs a read well inside it.
FEATURE_READ_OBJECTIVE_MS = 10.0


#: Default queue-delay targets (``MLPLAT_MAX_QUEUE_MS``): CoDel's 5 ms. Under overload an
#: admitted request waits about twice the target (once in the sockets while the loop
#: finishes a pass, once for its turn in the next) plus its own CPU time (0.15-1 ms a feature
#: read of 1-100 entities, ~0.6 ms a decision; benchmarks/serving_cost.py). Lower than the
#: GIL's switch interval (5 ms) a target would count any other thread of the process as a queue.
FEATURE_READ_QUEUE_MS = 5.0
DECISION_QUEUE_MS = 5.0


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


_BUSY_BODY = b'{"error":"overloaded: requests are waiting too long to be served; retry after the Retry-After seconds"}'
_FULL_BODY = b'{"error":"overloaded: too many requests in flight; retry after the Retry-After seconds"}'


class LoopLag:
    """How late the running event loop is, measured by a callback due every ``interval`` seconds.

    The loop counts as **overloaded** once two probes in a row ran later than ``target``:
    a standing queue, not a one-off pause (a garbage collection, the process descheduled
    once), which delays one probe only. Once it has shed, for ``memory`` seconds one late
    probe, or a pass of the loop already running later than ``target``, is enough: under
    a sustained overload the queue regrows within milliseconds of the last shed.
    """

    def __init__(self, target: float, interval: float = LAG_PROBE_SECONDS, memory: float = SHED_MEMORY_SECONDS) -> None:
        self.target, self.interval, self.memory = target, interval, memory
        self._late_probes = 0
        self._last = 0.0
        self._due = math.inf
        self._shed_at = -math.inf
        self._loop: asyncio.AbstractEventLoop | None = None

    def overloaded(self, now: float) -> bool:
        """Whether a request arriving ``now`` (``time.perf_counter()``) should be shed; counts it as shed if so."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # the first request, or an app served again on another loop
            self._start(loop)
        if self._late_probes >= 2 or (
            now - self._shed_at < self.memory
            and (self._late_probes or now - self._due - TIMER_RESOLUTION_SECONDS > self.target)
        ):
            self._shed_at = now
            return True
        return False

    def shed(self, now: float) -> None:
        """Note a request shed ``now`` for another reason of the same queue (see :meth:`behind`)."""
        self._shed_at = now

    def behind(self, now: float) -> bool:
        """Whether the last probe ran late, or requests were shed in the last ``memory`` seconds."""
        return self._late_probes > 0 or now - self._shed_at < self.memory

    def seconds(self) -> float:
        """The last probe's lateness (timers' resolution taken off)."""
        return self._last

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop, self._late_probes, self._last = loop, 0, 0.0
        self._due = time.perf_counter() + self.interval
        loop.call_later(self.interval, self._probe, loop)

    def _probe(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop is not self._loop:
            return  # superseded by a probe on the loop now serving
        now = time.perf_counter()
        self._last = max(0.0, now - self._due - TIMER_RESOLUTION_SECONDS)
        self._late_probes = self._late_probes + 1 if self._last > self.target else 0
        self._due = now + self.interval
        loop.call_later(self.interval, self._probe, loop)


class AdmissionControl:
    """``app`` behind a fast 503 with ``Retry-After`` when the loop lags or too much is in flight.

    A request is shed (``on_shed`` called with :data:`SHED_QUEUE`) when :class:`LoopLag`
    finds the loop overloaded as it arrives, or, while the loop is behind, when it then
    waited longer than half of ``max_queue_seconds`` for its handler to start; and
    (:data:`SHED_IN_FLIGHT`) when ``limit`` requests are in flight.
    ``exempt`` paths (probes, ``/metrics``) and paths for which ``exempt_suffixes`` match
    are never counted nor shed. :attr:`in_flight` is the number admitted and not yet answered.
    ``lag`` is the signal to share with the HTTP protocol's early shed (:func:`install`).
    """

    def __init__(
        self,
        app: AsgiApp,
        *,
        limit: int,
        max_queue_seconds: float,
        on_shed: Callable[[str], None],
        exempt: Collection[str] = (),
        exempt_suffixes: tuple[str, ...] = (),
        retry_after_seconds: int = RETRY_AFTER_SECONDS,
        lag: LoopLag | None = None,
        counter: InFlight | None = None,
    ) -> None:
        if limit < 1:
            raise ValueError(f"the in-flight limit must be at least 1, not {limit}")
        if max_queue_seconds <= 0:
            raise ValueError(f"the queue-delay target must be positive, not {max_queue_seconds} s")
        self.app = app
        self.limit = limit
        self.max_queue = max_queue_seconds
        self._counter = InFlight() if counter is None else counter
        self.lag = LoopLag(max_queue_seconds) if lag is None else lag
        self._on_shed = on_shed
        self._exempt = frozenset(exempt)
        self._exempt_suffixes = exempt_suffixes
        retry_after = str(retry_after_seconds).encode()
        self._busy = _shed_headers(_BUSY_BODY, retry_after)
        self._full = _shed_headers(_FULL_BODY, retry_after)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._is_exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        dispatched = scope.get(DISPATCHED_AT)  # set when the HTTP protocol admitted it (EarlyShed.admit)
        arrived = time.perf_counter()
        if dispatched is None and self.lag.overloaded(arrived):
            await self._shed(send, SHED_QUEUE, _BUSY_BODY, self._busy)
            return
        counter = self._counter
        if counter.count >= self.limit:
            self.lag.shed(arrived)  # requests held at the cap are a queue too (EarlyShed.refusal)
            await self._shed(send, SHED_IN_FLIGHT, _FULL_BODY, self._full)
            return
        counter.count += 1
        try:
            if dispatched is None:
                await asyncio.sleep(0)  # let the requests dispatched with this one be counted first
            else:
                arrived = dispatched  # its wait counts from when the protocol dispatched it
            # While the loop is behind, an admitted request whose turn came later than half
            # the target (behind the ones admitted with it) is shed too, so that a pass of
            # the loop stays short and the requests waiting in the sockets are reached (and
            # shed) soon; at normal load a burst is served in full.
            now = time.perf_counter()
            if now - arrived > self.max_queue / 2 and self.lag.behind(now):
                await self._shed(send, SHED_QUEUE, _BUSY_BODY, self._busy)
                return
            await self.app(scope, receive, send)
        finally:
            counter.count -= 1

    @property
    def in_flight(self) -> int:
        """Requests admitted and not yet answered."""
        return self._counter.count

    async def _shed(self, send: Send, reason: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        self._on_shed(reason)
        await send({"type": "http.response.start", "status": 503, "headers": list(headers)})
        await send({"type": "http.response.body", "body": body})

    def _is_exempt(self, path: str) -> bool:
        return path in self._exempt or (bool(self._exempt_suffixes) and path.endswith(self._exempt_suffixes))


def _shed_headers(body: bytes, retry_after: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", retry_after),
    ]


class InFlight:
    """The number of requests in flight, shared by :class:`AdmissionControl` and :class:`EarlyShed`."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


class EarlyShed:
    """What the HTTP protocol needs to shed a request before the app sees it (:mod:`services.http_protocol`).

    The same :class:`LoopLag` as the app's :class:`AdmissionControl`, the same exempt
    paths and shed counter, and the 503's encoded head and body (after uvicorn's default
    headers, ``date`` and ``server``, which change every second).

    It also bounds a **pass** of the loop: the requests dispatched while the loop reads
    its sockets run together in its next pass, and each request read meanwhile waits
    for all of them. :meth:`admit` measures each pass (the loop thread's CPU time from the
    first of its handlers to the loop's next read, per request dispatched) and, while the
    loop is behind (:meth:`LoopLag.behind`), admits no more requests into one pass than fit
    in ``pass_seconds`` at that cost; the rest are shed as they are read (and keep the loop
    counted as behind). At normal load no pass is bounded.
    """

    __slots__ = (
        "_dispatched",
        "_pending",
        "_ran",
        "_ran_at",
        "body",
        "cost",
        "exempt",
        "exempt_suffixes",
        "full_body",
        "full_head",
        "head",
        "in_flight",
        "lag",
        "limit",
        "on_shed",
        "pass_seconds",
    )

    def __init__(
        self,
        lag: LoopLag,
        on_shed: Callable[[str], None],
        exempt: frozenset[str],
        exempt_suffixes: tuple[str, ...],
        head: bytes,
        pass_seconds: float,
        body: bytes = _BUSY_BODY,
        *,
        limit: int = 0,
        in_flight: InFlight | None = None,
        full_head: bytes = b"",
    ) -> None:
        self.lag, self.on_shed, self.exempt, self.exempt_suffixes = lag, on_shed, exempt, exempt_suffixes
        self.head, self.body, self.pass_seconds = head, body, pass_seconds
        # The in-flight cap (0: none), counted by the app's AdmissionControl, and its 503.
        self.limit, self.in_flight = limit, InFlight() if in_flight is None else in_flight
        self.full_head, self.full_body = full_head, _FULL_BODY
        self.cost = 0.0  # seconds of the loop's CPU per request dispatched, measured while behind (0: not yet)
        self._dispatched = 0  # requests dispatched since the loop last started a pass
        self._pending = False  # a pass's start marker is scheduled
        self._ran_at = 0.0  # the loop thread's CPU time when the last pass started ...
        self._ran = 0  # ... with this many requests

    def is_exempt(self, path: str) -> bool:
        return path in self.exempt or (bool(self.exempt_suffixes) and path.endswith(self.exempt_suffixes))

    def refusal(self, now: float) -> str | None:
        """Why a request read ``now`` is shed (:data:`SHED_IN_FLIGHT`, :data:`SHED_QUEUE`), or ``None``: it goes to the app.

        A shed past the in-flight cap counts the loop as behind too (:meth:`LoopLag.shed`):
        a loop with ``limit`` requests in flight owes them their CPU time, spread over
        passes that may each end before a probe of the lag is due late, so the lag alone
        would not see this queue (measured: decisions held at the cap waited 7-8 ms at the
        median while no probe ran late, docs/benchmarks.md).
        """
        if self.limit and self.in_flight.count >= self.limit:
            self.lag.shed(now)
            return SHED_IN_FLIGHT
        return None if self.admit(now) else SHED_QUEUE

    def admit(self, now: float) -> bool:
        """Whether the lag and the pass bound let a request read ``now`` go to the app; ``False``: shed it (noted by the lag)."""
        lag = self.lag
        if lag.overloaded(now):
            return False
        if not self._pending:  # the first request since the last pass started: that pass has ended
            if self._ran and lag.behind(now):
                measured = (time.thread_time() - self._ran_at) / self._ran
                self.cost = measured if self.cost == 0 else (self.cost + measured) / 2
            self._ran = 0
            self._pending = True
            asyncio.get_running_loop().call_soon(self._started)  # before the handlers dispatched after it
        elif self.cost and (self._dispatched + 1) * self.cost > self.pass_seconds and lag.behind(now):
            lag.shed(now)
            return False
        self._dispatched += 1
        return True

    def _started(self) -> None:
        self._pending = False
        self._ran_at = time.thread_time()  # CPU time: the loop's idle time is no cost of the requests
        self._ran, self._dispatched = self._dispatched, 0


def install(
    app: Starlette,
    *,
    limit: int,
    max_queue_seconds: float,
    on_shed: Callable[[str], None],
    exempt: Collection[str] = (),
    exempt_suffixes: tuple[str, ...] = (),
    retry_after_seconds: int = RETRY_AFTER_SECONDS,
) -> None:
    """Wrap ``app`` in :class:`AdmissionControl` and give its HTTP protocol the same signal (``app.state.early_shed``).

    Served with :class:`services.http_protocol.SheddingHttpToolsProtocol`, a request that
    arrives while the loop is overloaded is answered 503 as its head is parsed, before a
    task is created or the app is called; under another protocol the middleware sheds it.
    """
    lag, counter = LoopLag(max_queue_seconds), InFlight()
    app.add_middleware(
        AdmissionControl,
        limit=limit,
        max_queue_seconds=max_queue_seconds,
        on_shed=on_shed,
        exempt=exempt,
        exempt_suffixes=exempt_suffixes,
        retry_after_seconds=retry_after_seconds,
        lag=lag,
        counter=counter,
    )
    retry_after = str(retry_after_seconds).encode()

    def head(body: bytes) -> bytes:
        return b"".join(name + b": " + value + b"\r\n" for name, value in _shed_headers(body, retry_after)) + b"\r\n"

    app.state.early_shed = EarlyShed(
        lag,
        on_shed,
        frozenset(exempt),
        exempt_suffixes,
        head(_BUSY_BODY),
        pass_seconds=max_queue_seconds * PASS_SHARE,
        limit=limit,
        in_flight=counter,
        full_head=head(_FULL_BODY),
    )
