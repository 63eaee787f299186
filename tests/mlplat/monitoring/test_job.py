"""The scheduled monitoring run end to end: catalog slice, profiles and archive in S3 (moto), the report
written back beside its latest copy, the gauges pushed to a real Prometheus."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from moto import mock_aws

from infra.model_monitoring import model_catalog
from mlplat.catalog import Catalog
from mlplat.decision_log import segment_path
from mlplat.monitoring.aggregates import Aggregator
from mlplat.monitoring.archive import ArchiveLocation, downloaded
from mlplat.monitoring.duckdb_aggregates import DuckDBAggregator
from mlplat.monitoring.job import MonitoringJobArgs, run_monitoring_job
from mlplat.monitoring.remote_write import Series, push
from mlplat.monitoring.synthetic_decisions import Shift, SimulationConfig, simulate
from tests.mlplat.monitoring.firehose_layout import firehose_objects, log_lines

REGION = "eu-west-1"
ARCHIVE, ARTIFACTS = "mlplat-dev-decision-archive-test", "mlplat-dev-artifacts-test"
REPO_MODELS = Path(__file__).resolve().parents[3] / "models"
START = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        for bucket in (ARCHIVE, ARTIFACTS):
            client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield client


def test_a_scheduled_run_writes_its_report_and_pushes_its_gauges(
    catalog: Catalog, default_data: Path, tmp_path: Path, s3: Any, prometheus: str
) -> None:
    shift = Shift("bureau_profile:fico_score", START + timedelta(days=7), offset=-60)
    config = SimulationConfig(start=START, days=14, per_day=60, shadow="v1", shifts=(shift,))
    simulate(catalog, "default_risk", default_data, REPO_MODELS, tmp_path / "log", tmp_path / "outcomes", config)
    for key, body in firehose_objects(log_lines(segment_path(tmp_path / "log", 1).read_bytes().splitlines())):
        s3.put_object(Bucket=ARCHIVE, Key=key, Body=body)
    s3.put_object(
        Bucket=ARTIFACTS, Key="_jobs/models/default_risk.json", Body=json.dumps(model_catalog(catalog, "default_risk"))
    )
    for version in ("v1", "v2"):
        profile = REPO_MODELS / "default_risk" / version / "profile.json"
        s3.put_object(Bucket=ARTIFACTS, Key=f"default_risk/{version}/profile.json", Body=profile.read_bytes())
    as_of = START + timedelta(days=14)
    args = MonitoringJobArgs(
        catalog=f"s3://{ARTIFACTS}/_jobs/models/default_risk.json",
        model="default_risk",
        archive=f"s3://{ARCHIVE}/decisions/",
        data=str(tmp_path / "outcomes"),
        artifacts=f"s3://{ARTIFACTS}/",
        reports=f"s3://{ARTIFACTS}/_reports/default_risk/",
        as_of=as_of,
        arrival_span=timedelta(hours=24),
        remote_write=f"{prometheus}/api/v1/write",
    )
    seen: list[Sequence[str]] = []

    with ExitStack() as stack:

        def duckdb_over(uris: Sequence[str]) -> Aggregator:
            seen.append(uris)
            keys = [u.removeprefix(f"s3://{ARCHIVE}/") for u in uris]
            return DuckDBAggregator(stack.enter_context(downloaded(s3, ArchiveLocation(ARCHIVE), keys)))

        def push_metrics(url: str, series: list[Series]) -> int:
            return push(url, series)

        result = run_monitoring_job(args, s3, duckdb_over, push_metrics)
    assert result.report.drifted()[0] == shift.ref
    assert all(uri.startswith(f"s3://{ARCHIVE}/decisions/2026/03/") for uri in seen[0])
    assert result.objects == len(seen[0]) > 100
    written = {uri.removeprefix(f"s3://{ARTIFACTS}/") for uri in result.written}
    for prefix in ("_reports/default_risk/2026/03/16/0000/", "_reports/default_risk/latest/"):
        assert {f"{prefix}{name}" for name in ("report.json", "report.html", "metrics.prom")} <= written
    saved = json.loads(s3.get_object(Bucket=ARTIFACTS, Key="_reports/default_risk/latest/report.json")["Body"].read())
    assert saved["drifted"][0] == shift.ref
    assert saved["as_of"] == as_of.isoformat()
    assert result.pushed > 20
    found = httpx.get(
        f"{prometheus}/api/v1/query",
        params={"query": f'mlplat_model_input_psi{{input="{shift.ref}",against="reference"}}'},
        timeout=5,
    ).json()["data"]["result"]
    assert float(found[0]["value"][1]) == pytest.approx(saved["inputs"][0]["psi_reference"], rel=1e-12)
