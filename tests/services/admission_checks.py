"""The admission check both servers pass over real HTTP: requests held open fill the cap."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
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


#: Sends ``count`` requests on their own connections after ``delay`` seconds, from another
#: process (so that the test's thread never lets go of the GIL meanwhile), and prints each
#: answer's status and lower-cased text as JSON lines. argv: host port delay count request-hex.
_SENDER = """
import json, socket, sys, time
host, port, delay, count, request = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), bytes.fromhex(sys.argv[5])
sockets = [socket.create_connection((host, port), timeout=10) for _ in range(count)]
print("ready", flush=True)
sys.stdin.readline()
time.sleep(delay)
for sock in sockets:
    sock.sendall(request)
for sock in sockets:
    data = b""
    while b"\\r\\n\\r\\n" not in data:
        data += sock.recv(65536)
    head, _, rest = data.partition(b"\\r\\n\\r\\n")
    length = next(int(l.split(b":")[1]) for l in head.lower().split(b"\\r\\n") if l.startswith(b"content-length"))
    while len(rest) < length:
        rest += sock.recv(65536)
    print(json.dumps([int(head[9:12]), (head.lower() + b"\\r\\n\\r\\n" + rest).decode()]), flush=True)
"""


def assert_late_loop_sheds_then_recovers(
    client: httpx.Client, base: str, path: str, body: bytes, shed_metric: str
) -> None:
    """A server in this process whose loop runs late (held off the GIL) sheds what arrives, as ``queue``.

    This thread holds the GIL in C calls of ~30 ms of CPU each, one after the other, so
    the server's loop runs only in between: every probe of its lag runs ~30 ms late, a
    standing queue as far as the loop can tell. Requests another process sends meanwhile
    are answered 503 at once; after it, 200.
    """
    assert client.post(path, content=body, headers={"content-type": "application/json"}).status_code == 200
    parts = urlsplit(base)
    request = (
        f"POST {path} HTTP/1.1\r\nhost: {parts.netloc}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode() + body
    sender = subprocess.Popen(
        [sys.executable, "-c", _SENDER, str(parts.hostname), str(parts.port), "0.3", "3", request.hex()],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert sender.stdin is not None
    assert sender.stdout is not None
    try:
        assert sender.stdout.readline() == b"ready\n"
        time.sleep(0.2)  # its connections accepted while the loop is on time
        sender.stdin.write(b"go\n")
        sender.stdin.flush()
        _hold_the_gil(0.9)  # the requests leave 0.3 s in
        output, _ = sender.communicate(timeout=30)
    finally:
        if sender.poll() is None:
            sender.kill()
    answers = [json.loads(line) for line in output.splitlines()]
    assert [status for status, _ in answers] == [503] * 3, answers
    assert all("waiting too long" in text and "retry-after: 1" in text for _, text in answers)
    metrics = client.get("/metrics").text
    assert f'{shed_metric}{{reason="queue"}} 3.0' in metrics
    deadline = time.monotonic() + 5
    while client.post(path, content=body, headers={"content-type": "application/json"}).status_code != 200:
        assert time.monotonic() < deadline, "no recovery after the loop was back on time"
        time.sleep(0.02)


def _hold_the_gil(seconds: float) -> None:
    """Hold the GIL in C calls of ~30 ms (``sum`` over a range never lets it go) for ``seconds``."""
    count = 100_000
    while True:  # size one call to ~30 ms of this thread's CPU (wall time would count the neighbours)
        started = time.thread_time()
        sum(range(count))
        if time.thread_time() - started >= 0.03:
            break
        count *= 2
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        sum(range(count))
