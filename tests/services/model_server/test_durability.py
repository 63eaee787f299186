"""The server as its own process: SIGKILL under load loses no answered decision; SIGTERM drains."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mlplat.catalog import Catalog
from mlplat.decision_log import read_decision_log, segments
from mlplat.online_store import OnlineStore
from tests.servers import free_port, port_open
from tests.services.model_server.conftest import APPLICANT, MERCHANT, seed_features

REPO = Path(__file__).resolve().parents[3]
REQUEST = {
    "entities": {"applicant_id": APPLICANT, "merchant_id": MERCHANT},
    "values": {"order_amount": 99.0, "instalments": 4},
}


@pytest.fixture(params=["fsync", "write"])
def durability(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def server_process(
    catalog: Catalog, artifact_root: Path, redis_url: str, namespace: str, tmp_path: Path, durability: str
) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    snapshot = tmp_path / "catalog.json"
    snapshot.write_text(json.dumps(catalog.to_snapshot()), encoding="utf-8")
    log_path = tmp_path / "decisions"
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "OMP_NUM_THREADS": "1",
        "MLPLAT_CATALOG": str(snapshot),
        "MLPLAT_ARTIFACT_ROOT": str(artifact_root),
        "MLPLAT_ONLINE_STORE_URL": redis_url,
        "MLPLAT_ONLINE_STORE_NAMESPACE": namespace,
        "MLPLAT_DECISION_LOG": str(log_path),
        "MLPLAT_DECISION_LOG_DURABILITY": durability,
        # The smallest segments: the load below fills several, so records cross segment switches.
        "MLPLAT_DECISION_LOG_SEGMENT_BYTES": "65536",
        # 16-20 concurrent clients on a busy host: every request is admitted, none shed.
        "MLPLAT_MAX_IN_FLIGHT": "64",
        "MLPLAT_PORT": str(port),
    }
    stderr = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "services.model_server.server"], env=env, cwd=tmp_path, stderr=stderr, stdout=stderr
    )
    try:
        deadline = time.monotonic() + 60
        url = f"http://127.0.0.1:{port}"
        while not (port_open("127.0.0.1", port) and httpx.get(f"{url}/v2/health/ready").status_code == 200):
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline, "server did not become ready in 60 s"
            time.sleep(0.1)
        yield process, url, log_path
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        stderr.close()


def logged_ids(log_dir: Path) -> set[str]:
    return {record["id"] for record in read_decision_log(log_dir)}


@pytest.mark.slow
def test_sigkill_under_load_loses_no_decision_a_client_received(
    server_process: tuple[subprocess.Popen[bytes], str, Path], store: OnlineStore
) -> None:
    process, url, log_path = server_process
    seed_features(store)

    async def scenario() -> set[str]:
        answered: set[str] = set()
        enough = asyncio.Event()

        async def worker(client: httpx.AsyncClient) -> None:
            while True:
                try:
                    response = await client.post(f"{url}/v1/decisions/default_risk", json=REQUEST)
                except httpx.HTTPError:
                    return  # the server is gone
                assert response.status_code == 200, response.text
                answered.add(response.json()["decision_id"])
                if len(answered) >= 300:
                    enough.set()

        async with httpx.AsyncClient(timeout=5) as client:
            tasks = [asyncio.create_task(worker(client)) for _ in range(16)]
            await asyncio.wait_for(enough.wait(), timeout=60)
            os.kill(process.pid, signal.SIGKILL)  # mid-load: requests are in flight
            await asyncio.gather(*tasks)
        return answered

    answered = asyncio.run(scenario())
    process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    assert len(answered) >= 300
    missing = answered - logged_ids(log_path)
    assert not missing, f"{len(missing)} answered decisions are not in the log"
    assert len(segments(log_path)) > 3


@pytest.mark.slow
@pytest.mark.parametrize("durability", ["fsync"], indirect=True)
def test_sigterm_drains_in_flight_requests_and_flushes_the_log(
    server_process: tuple[subprocess.Popen[bytes], str, Path], store: OnlineStore, tmp_path: Path
) -> None:
    process, url, log_path = server_process
    seed_features(store)

    async def scenario() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=10) as client:
            # Open the connections first, so the burst below reaches the server at once and
            # SIGTERM finds requests in flight rather than connections still being set up.
            await asyncio.gather(*(client.post(f"{url}/v1/decisions/default_risk", json=REQUEST) for _ in range(20)))
            requests = [
                asyncio.create_task(client.post(f"{url}/v1/decisions/default_risk", json=REQUEST)) for _ in range(20)
            ]
            await asyncio.sleep(0.005)
            process.send_signal(signal.SIGTERM)
            return list(await asyncio.gather(*requests, return_exceptions=True))  # type: ignore[arg-type]

    responses = asyncio.run(scenario())
    # uvicorn re-raises the signal once shut down cleanly, so the exit status is SIGTERM's.
    assert process.wait(timeout=30) == -signal.SIGTERM
    answered = {r.json()["decision_id"] for r in responses if isinstance(r, httpx.Response) and r.status_code == 200}
    assert answered
    assert answered <= logged_ids(log_path)
    assert "flushing the decision log" in (tmp_path / "server.log").read_text()
    # A clean stop cuts every segment back to its records: plain JSON lines, no padding.
    for _, path in segments(log_path):
        assert b"\0" not in path.read_bytes(), path
