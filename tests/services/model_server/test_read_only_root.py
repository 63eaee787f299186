"""The model server runs with the pod's read-only root filesystem: nothing but ``/tmp`` (its emptyDir) is writable.

The Deployment sets ``readOnlyRootFilesystem``; a write anywhere else (a cache, a spool, a
log file, a ``.pyc``) would crash the pod on the cluster only. Here the real server runs in a
mount namespace where ``/`` is read-only, with its cluster settings' equivalents: the catalog
snapshot, artifacts, Redis, and the decision log on Kinesis (moto's server over loopback).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from mlplat.catalog import Catalog
from mlplat.online_store import OnlineStore
from tests.servers import free_port, read_only_root, served_read_only
from tests.services.model_server.conftest import APPLICANT, MERCHANT, seed_features

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[3]
DECISION = {"entities": {"applicant_id": APPLICANT, "merchant_id": MERCHANT}, "values": {"order_amount": 80.5}}
STREAM = "decisions"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "eu-west-1"}


@pytest.fixture
def kinesis_url() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    url = f"http://127.0.0.1:{port}"
    client = boto3.client("kinesis", endpoint_url=url, region_name="eu-west-1", **_keys())
    client.create_stream(StreamName=STREAM, ShardCount=1)
    yield url
    server.stop()


def _keys() -> dict[str, str]:
    return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def _records(url: str) -> list[bytes]:
    client = boto3.client("kinesis", endpoint_url=url, region_name="eu-west-1", **_keys())
    [shard] = client.describe_stream(StreamName=STREAM)["StreamDescription"]["Shards"]
    iterator = client.get_shard_iterator(StreamName=STREAM, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
    return [record["Data"] for record in client.get_records(ShardIterator=iterator["ShardIterator"])["Records"]]


def test_the_server_decides_and_drains_with_only_tmp_writable(
    catalog: Catalog,
    artifact_root: Path,
    store: OnlineStore,
    redis_url: str,
    namespace: str,
    kinesis_url: str,
    tmp_path: Path,
) -> None:
    seed_features(store)
    snapshot = tmp_path / "catalog.json"
    snapshot.write_text(json.dumps(catalog.to_snapshot()), encoding="utf-8")
    port = free_port()
    env = {
        **os.environ,
        **FAKE_CREDENTIALS,
        "PYTHONPATH": str(REPO),
        "PYTHONDONTWRITEBYTECODE": "1",  # as the image sets it
        "HOME": "/nonexistent",  # the image's user has no home directory
        "OMP_NUM_THREADS": "1",
        "MLPLAT_CATALOG": str(snapshot),
        "MLPLAT_ARTIFACT_ROOT": str(artifact_root),
        "MLPLAT_ONLINE_STORE_URL": redis_url,
        "MLPLAT_ONLINE_STORE_NAMESPACE": namespace,
        "MLPLAT_DECISION_LOG": f"kinesis://{STREAM}",
        "MLPLAT_KINESIS_ENDPOINT_URL": kinesis_url,
        "MLPLAT_PORT": str(port),
    }
    log_path = tmp_path / "server.log"
    command = [sys.executable, "-m", "services.model_server.server"]
    with served_read_only(command, env, port, "/v2/health/ready", log_path, ready_seconds=60) as url:
        answer = httpx.post(f"{url}/v1/decisions/fraud", json=DECISION, timeout=10)
        assert answer.status_code == 200, answer.text
    assert [json.loads(data)["id"] for data in _records(kinesis_url)] == [answer.json()["decision_id"]]


def test_the_namespace_refuses_a_write_outside_tmp(tmp_path: Path) -> None:
    # What the test above leans on: the same namespace turns a write outside /tmp into EROFS. The
    # probe's directory is made outside /tmp (where a checkout may live, e.g. CI's clone), and is
    # writable outside the namespace.
    outside = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="mlplat-read-only-"))
    try:
        target = outside / "probe"
        command = read_only_root([sys.executable, "-c", f"open({str(target)!r}, 'w')"])
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        assert result.returncode != 0
        assert "Read-only file system" in result.stderr
        assert not target.exists()
        target.write_text("writable outside the namespace")
    finally:
        shutil.rmtree(outside)
    probe = tmp_path / "probe"
    subprocess.run(read_only_root([sys.executable, "-c", f"open({str(probe)!r}, 'w')"]), check=True)
    assert probe.exists()
