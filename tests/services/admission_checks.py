"""The admission check both servers pass over real HTTP: requests held open fill the cap."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import httpx


@contextmanager
def held_requests(base: str, path: str, count: int) -> Iterator[list[socket.socket]]:
    """``count`` POSTs to ``path`` whose bodies never arrive: each stays in flight until closed."""
    parts = urlsplit(base)
    sockets = []
    try:
        for _ in range(count):
            sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
            head = f"POST {path} HTTP/1.1\r\nhost: {parts.netloc}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n"
            sock.sendall(head.encode())
            sockets.append(sock)
        time.sleep(0.2)  # the server accepts and parses them
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def assert_shed_then_recovered(
    client: httpx.Client, base: str, path: str, body: object, limit: int, probes: tuple[str, ...], shed_metric: str
) -> None:
    """With ``limit`` requests held, the next is a fast 503 + Retry-After; probes answer; then recovery."""
    assert client.post(path, json=body).status_code == 200
    with held_requests(base, path, limit):
        deadline = time.monotonic() + 10
        while (answer := client.post(path, json=body)).status_code != 503:
            assert time.monotonic() < deadline, "the held requests never filled the cap"
            time.sleep(0.05)
        seconds = []
        for _ in range(5):
            started = time.perf_counter()
            answer = client.post(path, json=body)
            seconds.append(time.perf_counter() - started)
            assert answer.status_code == 503
            assert answer.headers["retry-after"] == "1"
            assert "too many requests in flight" in answer.json()["error"]
        # A few milliseconds on loopback; the median's bound leaves room for a busy shared host.
        assert sorted(seconds)[2] < 0.05, f"shed answers took {[round(s * 1000, 1) for s in seconds]} ms"
        for probe in probes:
            assert client.get(probe).status_code == 200, probe
        metrics = client.get("/metrics").text
        shed = {
            line.split()[0]: float(line.split()[1]) for line in metrics.splitlines() if line.startswith(shed_metric)
        }
        assert shed[f'{shed_metric}{{reason="in_flight"}}'] >= 2
        assert f'{shed_metric}{{reason="queue"}}' in shed  # exported from the start
    deadline = time.monotonic() + 5
    while (answer := client.post(path, json=body)).status_code != 200:
        assert time.monotonic() < deadline, f"no recovery after the held requests closed: {answer.status_code}"
        time.sleep(0.01)
