"""rediss:// as ElastiCache in-transit encryption needs: TLS verified against a CA, with AUTH."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlplat.errors import StoreUnavailableError
from mlplat.online_store import ReadRequest, Row, open_store
from tests.online_specs import online_test_catalog
from tests.servers import free_port, port_open, unavailable

CATALOG = online_test_catalog()
TOKEN = "tls-auth-token"
SIGNED = ["-out", "server.crt", "-days", "1", "-extfile", "san.ext"]
TLS = ["--tls-cert-file", "server.crt", "--tls-key-file", "server.key", "--tls-ca-cert-file", "ca.crt"]


def _certificates(directory: Path) -> None:
    """A throwaway CA and a server certificate for localhost, signed by it."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    (directory / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    commands = [
        ["req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=mlplat test CA", "-days", "1"],
        ["req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"],
        ["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", *SIGNED],
    ]
    for command in commands:
        subprocess.run(["openssl", *command], cwd=directory, check=True, capture_output=True)


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[int]:
    binary, openssl = shutil.which("redis-server"), shutil.which("openssl")
    if binary is None or openssl is None:
        unavailable("redis-server and openssl (on PATH)")
    assert binary is not None
    _certificates(tmp_path)
    port = free_port()
    arguments = ["--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)]
    process = subprocess.Popen(
        [binary, *arguments, *TLS, "--tls-auth-clients", "no", "--requirepass", TOKEN],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not port_open("127.0.0.1", port):
            if process.poll() is not None or time.monotonic() > deadline:
                unavailable("redis-server built with TLS")
            time.sleep(0.02)
        yield port
    finally:
        process.kill()
        process.wait(timeout=10)


def test_rediss_verifies_the_server_and_authenticates(tls_redis: int, tmp_path: Path) -> None:
    url = f"rediss://localhost:{tls_redis}/0?ssl_ca_certs={tmp_path / 'ca.crt'}"
    store = open_store(url, CATALOG, namespace="tls", password=TOKEN, timeout=2)

    store.write("typed", [Row(("a",), datetime.now(UTC), {"count64": 5})])

    assert store.read([ReadRequest("typed", ("a",), ["count64"])])[0]["count64"].value == 5
    store.close()


def test_rediss_refuses_a_server_it_cannot_verify(tls_redis: int) -> None:
    store = open_store(f"rediss://localhost:{tls_redis}/0", CATALOG, password=TOKEN, timeout=2)

    with pytest.raises(StoreUnavailableError, match="certificate verify failed"):
        store.ping()


def test_plain_redis_against_a_tls_port_fails_fast(tls_redis: int) -> None:
    store = open_store(f"redis://127.0.0.1:{tls_redis}/0", CATALOG, password=TOKEN, timeout=0.5)

    started = time.monotonic()
    with pytest.raises(StoreUnavailableError):
        store.ping()
    assert time.monotonic() - started < 2.0
