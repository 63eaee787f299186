"""The HTTP protocol's early shed over real HTTP: a 503 before the app sees the request, keep-alive intact."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from mlplat.operations.metric_names import SHED_IN_FLIGHT, SHED_QUEUE
from services import admission
from services.http_protocol import early_shed_of
from tests.servers import running
from tests.services.raw_http import answer as _answer
from tests.services.raw_http import connected as _connected
from tests.services.raw_http import get as _get
from tests.services.raw_http import post_head as _post_head

QUEUE = 0.005  # the queue-delay target: 5 ms


class Seen:
    """An ASGI wrapper around the app that records every path it is called with (what uvicorn dispatched)."""

    def __init__(self, app: Starlette) -> None:
        self.app = app  # the protocol finds the app's early shed through ``.app``
        self.paths: list[str] = []

    async def __call__(self, scope: dict[str, object], receive: object, send: object) -> None:
        if scope["type"] == "http":
            self.paths.append(str(scope["path"]))
        await self.app(scope, receive, send)  # type: ignore[arg-type]


class LateLoop:
    """An app behind admission control whose ``/late`` holds the loop 20 ms at a time until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.late = threading.Event()
        self.shed: list[str] = []

        async def fast(request: Request) -> JSONResponse:
            return JSONResponse({"ok": True, "body": len(await request.body())})

        async def late(request: Request) -> JSONResponse:
            # Every probe of the loop's lag runs ~20 ms late meanwhile: a standing queue.
            while not self.release.is_set():
                time.sleep(0.02)
                self.late.set()
                await asyncio.sleep(0)
            return JSONResponse({"ok": True})

        async def metrics(request: Request) -> PlainTextResponse:
            return PlainTextResponse(f'shed_total{{reason="queue"}} {self.shed.count(SHED_QUEUE)}\n')

        starlette = Starlette(
            routes=[
                Route("/fast", fast, methods=["GET", "POST"]),
                Route("/late", late),
                Route("/health/live", fast),
                Route("/metrics", metrics),
                Route("/m/ready", fast),
            ]
        )
        admission.install(
            starlette,
            limit=100,
            max_queue_seconds=QUEUE,
            on_shed=self.shed.append,
            exempt=("/health/live", "/metrics"),
            exempt_suffixes=("/ready",),
        )
        self.app = Seen(starlette)

    @contextmanager
    def overloaded(self, base: str) -> Iterator[None]:
        """While inside, the server's loop runs ~20 ms late (a ``/late`` request holds it)."""
        with ThreadPoolExecutor(1) as pool:
            busy = pool.submit(httpx.get, f"{base}/late", timeout=30)
            assert self.late.wait(10)
            time.sleep(0.1)  # several probes have run late
            try:
                yield
            finally:
                self.release.set()
                assert busy.result().status_code == 200  # admitted before the loop fell behind


def test_a_request_arriving_while_the_loop_is_overloaded_is_shed_before_the_app_sees_it() -> None:
    server = LateLoop()
    with running(server.app) as base:  # type: ignore[arg-type]
        sockets = _connected(base, 3)
        try:
            with server.overloaded(base):
                before = list(server.app.paths)
                for sock in sockets:
                    sock.sendall(_get("/fast"))
                answers = [_answer(sock) for sock in sockets]
                dispatched = server.app.paths[len(before) :]
        finally:
            for sock in sockets:
                sock.close()
    assert [status for status, _, _ in answers] == [503] * 3
    assert all(b"\r\nretry-after: 1" in head and b"content-type: application/json" in head for _, head, _ in answers)
    assert all(b"waiting too long" in body for _, _, body in answers)
    assert all(b"connection: close" not in head for _, head, _ in answers)  # keep-alive
    assert dispatched == []  # uvicorn dispatched none of them to the app
    assert server.shed == [SHED_QUEUE] * 3


def test_keep_alive_connections_carry_the_next_request_after_a_shed_whole_body_or_body_after_the_answer() -> None:
    server = LateLoop()
    body = b'{"entities": {"id": [1, 2, 3]}}'
    with running(server.app) as base:  # type: ignore[arg-type]
        whole, split = _connected(base, 2)
        try:
            with server.overloaded(base):
                whole.sendall(_post_head("/fast", len(body)) + body)
                split.sendall(_post_head("/fast", len(body)))  # the body comes after the answer
                shed = [_answer(whole)[0], _answer(split)[0]]
                # The body's bytes are read and dropped, not parsed as a request
                # (which would be a 400 and a closed connection).
                split.sendall(body)
            _wait_for_recovery(base)
            time.sleep(admission.SHED_MEMORY_SECONDS * 2)  # no longer behind: the next pass is not bounded
            for sock in (whole, split):
                sock.sendall(_post_head("/fast", len(body)) + body)
            after = [_answer(whole), _answer(split)]
        finally:
            whole.close()
            split.close()
    assert shed == [503, 503]
    assert [status for status, _, _ in after] == [200, 200]
    assert all(answer_body == b'{"ok":true,"body":%d}' % len(body) for _, _, answer_body in after)
    assert server.shed == [SHED_QUEUE] * 2


def test_probes_and_metrics_are_never_shed_and_the_shed_are_counted() -> None:
    server = LateLoop()
    with running(server.app) as base:  # type: ignore[arg-type]
        sock = _connected(base, 1)[0]
        try:
            with server.overloaded(base):
                statuses = []
                for path in ("/fast", "/health/live", "/m/ready", "/fast", "/metrics"):
                    sock.sendall(_get(path))
                    status, _, answer = _answer(sock)
                    statuses.append(status)
        finally:
            sock.close()
    assert statuses == [503, 200, 200, 503, 200]
    assert answer == b'shed_total{reason="queue"} 2\n'  # the two sheds, counted before /metrics was read
    assert server.shed == [SHED_QUEUE] * 2
    assert server.app.paths == ["/late", "/health/live", "/m/ready", "/metrics"]  # the shed never reached the app


def test_what_the_protocol_does_not_shed_early_the_middleware_still_sheds() -> None:
    """A connection that closes after its answer, and HEAD, go to uvicorn's own path; admission control sheds them there."""
    server = LateLoop()
    with running(server.app) as base:  # type: ignore[arg-type]
        closing, head = _connected(base, 2)
        try:
            with server.overloaded(base):
                closing.sendall(_get("/fast", "connection: close\r\n"))
                status, answer_head, _ = _answer(closing)
                closed = closing.recv(1) == b""
                head.sendall(b"HEAD /fast HTTP/1.1\r\nhost: test\r\n\r\n")
                head_answer = head.recv(65536)
        finally:
            closing.close()
            head.close()
    assert status == 503
    assert b"connection: close" in answer_head
    assert closed
    assert head_answer.startswith(b"HTTP/1.1 503")
    assert server.app.paths.count("/fast") == 2  # dispatched, then shed by the middleware
    assert server.shed == [SHED_QUEUE] * 2


def test_an_app_without_admission_control_is_served_as_by_uvicorn() -> None:
    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("hi")

    app = Starlette(routes=[Route("/", hello)])
    assert early_shed_of(app) is None
    with running(app) as base, httpx.Client(base_url=base) as client:
        assert [client.get("/").text for _ in range(3)] == ["hi"] * 3


def _wait_for_recovery(base: str) -> None:
    deadline = time.monotonic() + 5
    with httpx.Client(base_url=base) as client:
        while client.get("/fast").status_code != 200:
            assert time.monotonic() < deadline, "no recovery after the loop was back on time"
            time.sleep(0.02)


def test_while_the_loop_is_behind_one_pass_admits_what_fits_in_its_share_of_the_target() -> None:
    """At the loop time per request measured in the passes before; the next pass admits again; on time, no bound."""
    outcomes: dict[str, list[bool]] = {}
    costs: list[float] = []

    async def passes() -> None:
        loop = asyncio.get_running_loop()
        lag = admission.LoopLag(10.0)  # no probe runs 10 s late, even on a busy host: only the sheds count
        shed = admission.EarlyShed(lag, lambda reason: None, frozenset(), (), b"", pass_seconds=0.0025)

        def read(count: int) -> list[bool]:
            """``count`` requests read in one pass; each admitted one takes 0.8 ms of the loop's CPU in the next."""
            admitted = [shed.admit(time.perf_counter()) for _ in range(count)]
            for _ in range(sum(admitted)):
                loop.call_soon(_spin, 0.0008)
            return admitted

        outcomes["on time"] = read(4)  # not behind: a pass is not bounded
        await asyncio.sleep(0.001)  # the pass runs (4 x 0.8 ms, inside the queue target)
        lag.shed(time.perf_counter())  # requests were just shed: the loop is behind
        outcomes["behind"] = read(6)  # the pass before is measured first
        costs.append(shed.cost)
        await asyncio.sleep(0.001)
        lag.shed(time.perf_counter())
        outcomes["next pass"] = read(6)
        await asyncio.sleep(admission.SHED_MEMORY_SECONDS + 0.05)  # nothing shed since, probes on time
        outcomes["on time again"] = read(6)  # measured, but not behind: not bounded

    asyncio.run(passes())
    assert outcomes["on time"] == [True] * 4
    fit = max(1, int(0.0025 / costs[0]))
    assert 0.0008 <= costs[0] < 0.0025 / 2, costs  # the measured loop time per request
    assert outcomes["behind"] == [True] * fit + [False] * (6 - fit)
    assert outcomes["next pass"][0] is True
    assert outcomes["next pass"].count(True) < 6
    assert outcomes["on time again"] == [True] * 6


def _spin(seconds: float) -> None:
    """Use the loop thread's CPU for ``seconds`` (what a handler costs; a sleep would cost none)."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_past_the_in_flight_cap_the_protocol_answers_before_the_app_sees_the_request() -> None:
    release = threading.Event()
    shed: list[str] = []

    async def held(request: Request) -> JSONResponse:
        while not release.is_set():
            await asyncio.sleep(0.002)
        return JSONResponse({"ok": True})

    async def fast(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    starlette = Starlette(routes=[Route("/held", held), Route("/fast", fast)])
    admission.install(starlette, limit=1, max_queue_seconds=10, on_shed=shed.append)
    app = Seen(starlette)
    with running(app) as base, ThreadPoolExecutor(1) as pool:  # type: ignore[arg-type]
        sock = _connected(base, 1)[0]
        try:
            holding = pool.submit(httpx.get, f"{base}/held", timeout=30)
            _wait = time.monotonic() + 10
            while "/held" not in app.paths:
                assert time.monotonic() < _wait
                time.sleep(0.005)
            time.sleep(0.05)  # the held request is in flight
            sock.sendall(_get("/fast"))
            status, head, body = _answer(sock)
            release.set()
            assert holding.result().status_code == 200
            sock.sendall(_get("/fast"))  # the same connection, the cap free again
            after = _answer(sock)[0]
        finally:
            sock.close()
    assert status == 503
    assert b"\r\nretry-after: 1" in head
    assert b"too many requests in flight" in body
    assert app.paths == ["/held", "/fast"]  # the shed one never reached the app; the next did
    assert shed == ["in_flight"]
    assert after == 200


def test_a_shed_past_the_in_flight_cap_counts_the_loop_as_behind_so_the_next_pass_is_bounded() -> None:
    """Requests held at the cap owe the loop their CPU even when no probe runs late: the pass bound applies."""
    results: dict[str, object] = {}

    async def at_the_cap() -> None:
        loop = asyncio.get_running_loop()
        lag = admission.LoopLag(10.0)  # no probe runs 10 s late, even on a busy host: only the shed counts
        counter = admission.InFlight()
        shed = admission.EarlyShed(
            lag, lambda reason: None, frozenset(), (), b"", pass_seconds=0.001, limit=2, in_flight=counter
        )

        def read(count: int) -> list[str | None]:
            """``count`` requests read in one pass; each admitted one takes 0.4 ms of the loop's CPU in the next."""
            refusals = [shed.refusal(time.perf_counter()) for _ in range(count)]
            for _ in range(refusals.count(None)):
                loop.call_soon(_spin, 0.0004)
            return refusals

        results["on time"] = read(4)  # not behind: a pass is not bounded
        await asyncio.sleep(0.001)  # the pass runs: 4 x 0.4 ms, no probe late
        counter.count = 2  # two requests in flight: the cap
        now = time.perf_counter()
        results["at the cap"] = (lag.behind(now), shed.refusal(now), lag.behind(now))
        counter.count = 0
        results["next pass"] = read(5)  # the pass before is measured first: 0.4 ms a request

    asyncio.run(at_the_cap())
    assert results["on time"] == [None] * 4
    assert results["at the cap"] == (False, SHED_IN_FLIGHT, True)
    # 0.4 ms a request in a pass of 1 ms: two admitted, the rest shed as the queue.
    assert results["next pass"] == [None, None, SHED_QUEUE, SHED_QUEUE, SHED_QUEUE]
