"""The feature server as deployed: `mlplat-serve features` in its own process, over real HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.online_specs import online_test_catalog
from tests.servers import free_port, throwaway_redis

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[3]
READ = {"features": ["velocity:applications_24h"], "entities": {"applicant_id": ["a1"]}}
PUSH = {"view": "velocity", "df": {"applicant_id": ["a1"], "event_timestamp": [0], "applications_24h": [4]}}


@contextmanager
def feature_server(
    tmp_path: Path, store_url: str, timeout: float = 0.3
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    snapshot = tmp_path / "catalog.json"
    snapshot.write_text(json.dumps(online_test_catalog().to_snapshot()))
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "MLPLAT_CATALOG": str(snapshot),
        "MLPLAT_ONLINE_STORE_URL": store_url,
        "MLPLAT_ONLINE_STORE_NAMESPACE": "served",
        "MLPLAT_ONLINE_STORE_TIMEOUT": str(timeout),
        "MLPLAT_HOST": "127.0.0.1",
        "MLPLAT_PORT": str(port),
    }
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "features"], env=env, cwd=tmp_path, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{base}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"feature server did not start (exit code {process.poll()})")
            time.sleep(0.05)
        yield process, base
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        log.close()


def _push_now() -> dict[str, object]:
    return {**PUSH, "df": {**PUSH["df"], "event_timestamp": [time.time()]}}  # type: ignore[dict-item]


def test_a_store_outage_is_503_within_the_timeout_and_heals_itself(tmp_path: Path) -> None:
    with (
        throwaway_redis(tmp_path) as (redis_process, port),
        feature_server(tmp_path, f"redis://127.0.0.1:{port}/0") as (_, base),
    ):
        client = httpx.Client(base_url=base, timeout=5)
        assert client.post("/push", json=_push_now()).status_code == 200
        assert client.post("/get-online-features", json=READ).json()["results"][1]["values"] == [4]

        redis_process.kill()
        redis_process.wait()
        started = time.monotonic()
        down = client.post("/get-online-features", json=READ)
        elapsed = time.monotonic() - started

        assert (down.status_code, down.json()) == (503, {"error": "store unavailable"})
        assert elapsed < 1.0
        for _ in range(20):
            assert client.post("/get-online-features", json=READ).status_code == 503
        # One line per kind of failure per interval, however many requests fail.
        logged = (tmp_path / "server.log").read_text().count("StoreUnavailableError")
        assert logged == 1
        assert client.get("/health/ready").status_code == 503
        assert client.get("/health/live").status_code == 200

        with throwaway_redis(tmp_path, port=port):
            deadline = time.monotonic() + 2  # the gate lets a call through every 0.5 s
            while client.get("/health/ready").status_code != 200:
                assert time.monotonic() < deadline, "the server did not notice the store is back"
                time.sleep(0.05)
            assert client.post("/push", json=_push_now()).status_code == 200
            assert client.post("/get-online-features", json=READ).json()["results"][1]["values"] == [4]
        client.close()


def test_malformed_requests_over_http_and_sigterm_drains(tmp_path: Path) -> None:
    with feature_server(tmp_path, f"sqlite:///{tmp_path}/online.db") as (process, base):
        client = httpx.Client(base_url=base, timeout=5)
        bad_json = client.post("/get-online-features", content=b"{", headers={"content-type": "application/json"})
        wrong_method = client.get("/get-online-features")
        metrics = client.get("/metrics")

        assert (bad_json.status_code, bad_json.json()["field"]) == (400, "body")
        assert (wrong_method.status_code, wrong_method.headers["allow"]) == (405, "POST")
        assert "mlplat_feature_server_request_seconds_bucket" in metrics.text
        client.close()

        process.send_signal(signal.SIGTERM)
        # uvicorn finishes in-flight requests and the lifespan, then re-raises the signal.
        assert process.wait(timeout=15) in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in (tmp_path / "server.log").read_text()
