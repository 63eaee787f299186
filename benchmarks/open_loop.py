"""Open-loop HTTP load: requests leave on a fixed schedule, latency counts from the scheduled time.

The one load generator of the serving benchmarks (``serving_cost.py``, ``model_server.py``).
A thread paces the schedule with ``time.sleep`` (clock_nanosleep): uvloop's timers have a
resolution of a millisecond, which would be counted as server latency. On each wake-up
the thread hands every request now due to the event loop in one call, so at rates of
thousands per second the loop is woken once per batch, not once per request.

Requests are pre-encoded bytes written on a pool of keep-alive HTTP/1.1 connections by a
raw :class:`asyncio.Protocol` (no streams, no per-request task): the generator spends a
few microseconds per request, so on a 2-core host it can offer twice what a one-worker
server does while sharing the cores with it. A request finding no idle connection waits
for the next to free up (or, up to ``max_connections``, opens one); either way its
latency runs from its scheduled time, so neither the generator's lateness nor its
queue hides the server's (no coordinated omission). By default no connection opens
during the schedule: hundreds of connects at once, when an overloaded server answers
late, cost the server more than the requests (its accept queue, then SYN retransmits of
a second), which is a connection storm, not the load being measured. The generator's own lateness, from
the scheduled time to the write, is reported beside the latencies (``lag``).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import gc
import sys
import threading
import time
from collections.abc import Callable, Sequence

#: The pacer thread must get the GIL back quickly when its sleep ends, even while the
#: loop thread is busy: CPython's default switch interval (5 ms) would add up to 5 ms of lag.
SWITCH_INTERVAL_SECONDS = 0.0002


@dataclasses.dataclass(frozen=True, slots=True)
class Sent:
    """One request: when it was due (s from the schedule's start), its latency (s) and status.

    Status 0: the connection failed twice (the request was not answered).
    """

    due: float
    latency: float
    status: int


@dataclasses.dataclass(frozen=True)
class Outcome:
    sent: list[Sent]  # in the order the answers arrived
    lags: list[float]  # seconds from each request's scheduled time to its write

    def lag_p99(self) -> float:
        return percentile(self.lags, 0.99)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank; NaN when empty)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def schedule_of(phases: Sequence[tuple[float, float]]) -> list[float]:
    """Due times (s from the start) of ``(rate per second, seconds)`` phases, one after the other."""
    due: list[float] = []
    offset = 0.0
    for rate, seconds in phases:
        due += [offset + i / rate for i in range(int(rate * seconds))]
        offset += seconds
    return due


def request_bytes(path: str, body: bytes, host: str = "bench") -> bytes:
    """A ``POST`` of ``body`` to ``path`` as HTTP/1.1 bytes."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class _Exchange(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self, pool: _Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.request: bytes = b""
        self.due = 0.0  # absolute perf_counter time
        self.offset = 0.0  # due, from the schedule's start
        self.buffer = b""
        self.status = 0
        self.remaining = -1  # body bytes still to come; -1 before the head is complete
        self.retried = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's TCPTransport is not an asyncio.Transport

    def send(self, request: bytes, due: float, offset: float) -> None:
        assert self.transport is not None
        self.request, self.due, self.offset = request, due, offset
        self.buffer, self.remaining, self.retried = b"", -1, False
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        if self.remaining < 0:
            self.buffer += data
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            self.status = int(head[9:12])
            length = 0
            at = head.find(b"content-length:")
            if at >= 0:
                stop = head.find(b"\r\n", at)
                length = int(head[at + 15 : stop if stop >= 0 else len(head)])
            self.remaining = length - (len(self.buffer) - end - 4)
            self.buffer = b""
        else:
            self.remaining -= len(data)
        if self.remaining <= 0:
            self.remaining = -1
            self.pool.answered(self, Sent(self.offset, time.perf_counter() - self.due, self.status))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.pool.lost(self)


class _Pool:
    """Idle connections, requests waiting for one, and the answers."""

    def __init__(self, loop: asyncio.AbstractEventLoop, host: str, port: int, max_connections: int) -> None:
        self.loop, self.host, self.port = loop, host, port
        self.max_connections = max_connections
        self.idle: list[_Exchange] = []
        self.busy: set[_Exchange] = set()
        self.opening = 0
        self.waiting: collections.deque[tuple[bytes, float, float]] = collections.deque()
        self.sent: list[Sent] = []
        self.outstanding = 0
        self.finished = asyncio.Event()

    async def open(self, count: int) -> None:
        for _ in range(count):
            _, exchange = await self.loop.create_connection(lambda: _Exchange(self), self.host, self.port)
            self.idle.append(exchange)

    def submit(self, request: bytes, due: float, offset: float) -> None:
        self.outstanding += 1
        if self.idle:
            self._start(self.idle.pop(), request, due, offset)
            return
        self.waiting.append((request, due, offset))
        if len(self.busy) + len(self.idle) + self.opening < self.max_connections:
            self.opening += 1
            self.loop.create_task(self._connect())

    def answered(self, exchange: _Exchange, sent: Sent) -> None:
        self.busy.discard(exchange)
        self.sent.append(sent)
        self.outstanding -= 1
        if self.waiting:
            self._start(exchange, *self.waiting.popleft())
        else:
            self.idle.append(exchange)
        if self.outstanding == 0:
            self.finished.set()

    def lost(self, exchange: _Exchange) -> None:
        if exchange in self.idle:
            self.idle.remove(exchange)  # the server closed an idle keep-alive connection
            return
        if exchange not in self.busy:
            return
        self.busy.discard(exchange)
        if exchange.retried:  # closed twice while carrying it: count it as unanswered
            self.answered_failed(exchange)
            return
        # A keep-alive connection closed as the request went out: resend on a new one, as
        # HTTP clients do; the time of the failed attempt still counts.
        self.waiting.appendleft((exchange.request, exchange.due, exchange.offset))
        self.opening += 1
        self.loop.create_task(self._connect(retry=True))

    def answered_failed(self, exchange: _Exchange) -> None:
        self.sent.append(Sent(exchange.offset, time.perf_counter() - exchange.due, 0))
        self.outstanding -= 1
        if self.outstanding == 0:
            self.finished.set()

    def _start(self, exchange: _Exchange, request: bytes, due: float, offset: float, retried: bool = False) -> None:
        self.busy.add(exchange)
        exchange.send(request, due, offset)
        exchange.retried = retried

    async def _connect(self, retry: bool = False) -> None:
        try:
            _, exchange = await self.loop.create_connection(lambda: _Exchange(self), self.host, self.port)
        except OSError:
            self.opening -= 1
            if self.waiting and not self.busy and not self.idle and not self.opening:
                _, due, offset = self.waiting.popleft()
                self.sent.append(Sent(offset, time.perf_counter() - due, 0))
                self.outstanding -= 1
                if self.outstanding == 0:
                    self.finished.set()
            return
        self.opening -= 1
        if self.waiting:
            self._start(exchange, *self.waiting.popleft(), retried=retry)
        else:
            self.idle.append(exchange)

    def close(self) -> None:
        for exchange in [*self.idle, *self.busy]:
            if exchange.transport is not None:
                exchange.transport.close()


async def run(
    port: int,
    requests: Sequence[bytes] | Callable[[int], bytes],
    due: Sequence[float],
    *,
    host: str = "127.0.0.1",
    connections: int = 64,
    max_connections: int | None = None,
) -> Outcome:
    """Send request ``i`` (``requests[i % len]`` or ``requests(i)``) at ``due[i]`` s from now; every answer.

    ``connections`` are opened before the schedule starts; more (up to ``max_connections``,
    default ``connections``) when a request finds none idle.
    """
    loop = asyncio.get_running_loop()
    pool = _Pool(loop, host, port, max_connections or connections)
    await pool.open(connections)
    body_of: Callable[[int], bytes] = requests if callable(requests) else (lambda i: requests[i % len(requests)])
    payloads = [body_of(i) for i in range(len(due))]
    lags: list[float] = []
    start = time.perf_counter() + 0.05
    paced = asyncio.Event()

    def launch(first: int, last: int) -> None:
        now = time.perf_counter()
        for i in range(first, last):
            lags.append(now - (start + due[i]))
            pool.submit(payloads[i], start + due[i], due[i])

    def pace() -> None:
        i, count = 0, len(due)
        while i < count:
            delay = start + due[i] - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            now = time.perf_counter() - start
            last = i + 1
            while last < count and due[last] <= now:
                last += 1
            loop.call_soon_threadsafe(launch, i, last)
            i = last
        loop.call_soon_threadsafe(paced.set)

    previous = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    collecting = gc.isenabled()
    gc.disable()  # a collection would stall the schedule and count as server latency
    pacer = threading.Thread(target=pace, name="pacer", daemon=True)
    try:
        pacer.start()
        await paced.wait()
        while pool.outstanding:
            pool.finished.clear()
            await pool.finished.wait()
    finally:
        pacer.join()
        sys.setswitchinterval(previous)
        if collecting:
            gc.enable()
        pool.close()
    return Outcome(pool.sent, lags)
