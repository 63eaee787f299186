"""The feature server runs with the pod's read-only root filesystem: nothing but ``/tmp`` (its emptyDir) is writable.

The real ``mlplat-serve features`` process, in a mount namespace where ``/`` is read-only,
serves its probes, a push and a read against Redis, and drains on SIGTERM.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import httpx
import pytest

from mlplat.loader import load_catalog
from tests.conftest import delete_namespace
from tests.servers import free_port, served_read_only

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[3]


def test_the_server_pushes_reads_and_drains_with_only_tmp_writable(
    specs_dir: Path, redis_url: str, namespace: str, tmp_path: Path
) -> None:
    snapshot = tmp_path / "catalog.json"
    snapshot.write_text(json.dumps(load_catalog(specs_dir).to_snapshot()), encoding="utf-8")
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "PYTHONDONTWRITEBYTECODE": "1",  # as the image sets it
        "HOME": "/nonexistent",  # the image's user has no home directory
        "MLPLAT_CATALOG": str(snapshot),
        "MLPLAT_ONLINE_STORE_URL": redis_url,
        "MLPLAT_ONLINE_STORE_NAMESPACE": namespace,
        "MLPLAT_HOST": "127.0.0.1",
        "MLPLAT_PORT": str(port),
    }
    log_path = tmp_path / "server.log"
    push = {
        "push_source_name": "application_stream",
        "df": {"applicant_id": ["a1"], "event_timestamp": [time.time()], "applications_1h": [2]},
    }
    read = {"features": ["application_velocity:applications_1h"], "entities": {"applicant_id": ["a1"]}}
    try:
        command = [sys.executable, "-m", "services.cli", "features"]
        with served_read_only(command, env, port, "/health/ready", log_path, ready_seconds=30) as url:
            pushed = httpx.post(f"{url}/push", json=push, timeout=5)
            assert pushed.status_code == 200, pushed.text
            answer = httpx.post(f"{url}/get-online-features", json=read, timeout=5)
            assert answer.json()["results"][1]["values"] == [2], answer.text
    finally:
        delete_namespace(redis_url, namespace)
