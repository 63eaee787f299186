"""Admission control over real HTTP: a cap on requests in flight, a fast 503 past it, recovery after."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.admission import AdmissionControl, in_flight_limit
from tests.servers import running

LIMIT = 3


class SlowApp:
    """A Starlette app whose ``/slow`` waits until released, wrapped in admission control."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = 0
        self.shed = 0

        async def slow(request: Request) -> JSONResponse:
            self.entered += 1
            while not self.release.is_set():
                await asyncio.sleep(0.002)
            return JSONResponse({"ok": True})

        async def fast(request: Request) -> JSONResponse:
            return JSONResponse({"ok": True})

        self.app = Starlette(
            routes=[Route("/slow", slow), Route("/fast", fast), Route("/health/live", fast), Route("/m/ready", fast)]
        )
        self.app.add_middleware(
            AdmissionControl, limit=LIMIT, on_shed=self._count, exempt=("/health/live",), exempt_suffixes=("/ready",)
        )

    def _count(self) -> None:
        self.shed += 1


def _wait_for(condition: object, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.005)


def test_past_the_cap_a_fast_503_with_retry_after_then_recovery() -> None:
    slow = SlowApp()
    with running(slow.app) as base, ThreadPoolExecutor(LIMIT) as pool, httpx.Client(base_url=base) as client:
        held = [pool.submit(httpx.get, f"{base}/slow", timeout=30) for _ in range(LIMIT)]
        _wait_for(lambda: slow.entered == LIMIT)

        client.get("/fast")  # the connection is open: time the answer alone
        shed_seconds = []
        for _ in range(5):
            started = time.perf_counter()
            answer = client.get("/fast")
            shed_seconds.append(time.perf_counter() - started)
            assert answer.status_code == 503
            assert answer.headers["retry-after"] == "1"
            assert "overloaded" in answer.json()["error"]
        assert slow.shed == 6
        # A few milliseconds on loopback; the bound leaves room for a busy shared host.
        assert sorted(shed_seconds)[2] < 0.05, shed_seconds

        # Probes are never shed, whatever the load.
        assert client.get("/health/live").status_code == 200
        assert client.get("/m/ready").status_code == 200

        slow.release.set()
        assert [f.result().status_code for f in held] == [200] * LIMIT
        assert client.get("/fast").status_code == 200
        assert client.get("/slow").status_code == 200
        assert slow.shed == 6


def test_a_burst_of_requests_that_never_wait_is_capped_in_one_pass() -> None:
    """Handlers that never yield still count: the burst past the cap is shed, not queued."""
    calls = 0

    async def inline(scope: object, receive: object, send: object) -> None:
        nonlocal calls
        calls += 1
        await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b"ok"})  # type: ignore[operator]

    shed = []
    middleware = AdmissionControl(inline, limit=2, on_shed=lambda: shed.append(1))
    statuses: list[int] = []

    async def one() -> None:
        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(int(message["status"]))  # type: ignore[call-overload]

        await middleware({"type": "http", "path": "/read"}, receive, send)

    async def burst() -> None:
        await asyncio.gather(*(one() for _ in range(5)))
        assert middleware.in_flight == 0
        await one()  # the burst is over: admitted again

    asyncio.run(burst())
    assert sorted(statuses) == [200, 200, 200, 503, 503, 503]
    assert calls == 3
    assert len(shed) == 3


@pytest.mark.parametrize(
    ("objective_ms", "cpu_ms", "limit"),
    [(50, 2.0, 25), (30, 2.0, 15), (10, 0.5, 20), (1, 2.0, 1), (10_000, 0.5, 20_000)],
)
def test_the_default_cap_fits_the_requests_cpu_in_the_objective(objective_ms: float, cpu_ms: float, limit: int) -> None:
    assert in_flight_limit(objective_ms, cpu_ms) == limit


@pytest.mark.parametrize(("objective_ms", "cpu_ms"), [(0, 1.0), (10, 0), (-1, 1.0)])
def test_a_nonpositive_objective_or_cost_is_refused(objective_ms: float, cpu_ms: float) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        in_flight_limit(objective_ms, cpu_ms)


def test_a_cap_below_one_is_refused() -> None:
    async def app(scope: object, receive: object, send: object) -> None:
        return None

    with pytest.raises(ValueError, match="at least 1, not 0"):
        AdmissionControl(app, limit=0, on_shed=lambda: None)
