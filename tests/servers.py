"""Where tests find real Redis and MariaDB servers.

On CI (``CI=true``) the machine's servers must be up: a missing one fails the test.
On a laptop without them, Redis falls back to a throwaway ``redis-server`` from PATH,
and tests that need a missing server are skipped with a loud reason.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from services.http_protocol import SheddingHttpToolsProtocol

ON_CI = os.environ.get("CI", "").lower() == "true"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
MYSQL_HOST, MYSQL_PORT = "127.0.0.1", 3306


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unavailable(what: str) -> None:
    """Fail on CI, skip loudly elsewhere."""
    message = f"{what} is not available"
    if ON_CI:
        pytest.fail(f"{message}; CI must provide it (.ci/run starts it)")
    pytest.skip(f"SKIPPED LOUDLY: {message}; start it to run this test")


#: A private mount namespace in which everything but ``/tmp`` is read-only, as in the services'
#: pods (``readOnlyRootFilesystem`` and an emptyDir at ``/tmp``); a bind remount changes only
#: that namespace's mount, never the machine's filesystem.
_READ_ONLY_ROOT = (
    "mount --bind / / && mount -o remount,bind,ro / "
    '&& mount --bind /tmp /tmp && mount -o remount,bind,rw /tmp && exec "$@"'
)


def read_only_root(command: list[str]) -> list[str]:
    """``command`` run where only ``/tmp`` is writable (needs root and ``unshare``: fails on CI without them)."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        unavailable("unshare as root (a private mount namespace)")
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", _READ_ONLY_ROOT, "sh", *command]


@contextmanager
def served_read_only(
    command: list[str], env: dict[str, str], port: int, ready_path: str, log_path: Path, ready_seconds: float
) -> Iterator[str]:
    """The server ``command`` in a process where only ``/tmp`` is writable (:func:`read_only_root`): its URL once
    ``ready_path`` answers 200 on ``port``. Leaving, it gets SIGTERM and must drain and exit cleanly, having
    written nothing outside ``/tmp``; its output is in ``log_path``."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(read_only_root(command), env=env, cwd="/", stdout=log, stderr=log)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + ready_seconds
            while not (port_open("127.0.0.1", port) and httpx.get(f"{url}{ready_path}").status_code == 200):
                assert process.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, f"server did not become ready in {ready_seconds:g} s"
                time.sleep(0.05)
            yield url
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) in (0, -signal.SIGTERM), log_path.read_text()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    output = log_path.read_text()
    assert "Read-only file system" not in output
    assert "Application shutdown complete" in output


@contextmanager
def throwaway_redis(tmp_path: Path, port: int | None = None) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A private redis-server on ``port`` (left out: a free loopback port), killed on exit."""
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server (on PATH)")
    assert binary is not None
    port = free_port() if port is None else port
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not port_open("127.0.0.1", port):
            if time.monotonic() > deadline:
                pytest.fail("throwaway redis-server did not start within 10 s")
            time.sleep(0.02)
        yield process, port
    finally:
        process.kill()
        process.wait(timeout=10)


def system_tool(name: str, package: str) -> str:
    """The path of ``name`` on PATH; missing: fail on CI, skip loudly elsewhere."""
    binary = shutil.which(name)
    if binary is None:
        unavailable(f"{name} (on PATH; apt-get install {package})")
    assert binary is not None
    return binary


@contextmanager
def running(app: Starlette) -> Iterator[str]:
    """Serve ``app`` over real HTTP on a free loopback port with the services' HTTP protocol; yields the base URL."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        loop="asyncio",
        http=SheddingHttpToolsProtocol,
        lifespan="on",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not (server.started and port_open("127.0.0.1", port)):
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the server did not start within 10 s")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
