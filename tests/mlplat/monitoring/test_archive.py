"""The Firehose archive as monitoring input: which prefixes a window lists, and a report from S3 (moto)
equal to the one from the local log holding the same records."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mlplat.catalog import Catalog
from mlplat.decision_log import read_decision_log, segment_path
from mlplat.errors import UsageError
from mlplat.monitoring.archive import ArchiveLocation, merged_prefixes, prefixes, window_keys
from mlplat.monitoring.monitor import MonitorOptions, monitor
from mlplat.monitoring.report_data import to_json
from mlplat.monitoring.synthetic_decisions import Shift, SimulationConfig, simulate
from tests.mlplat.monitoring.firehose_layout import firehose_objects, log_lines

BUCKET = "mlplat-prod-decision-archive-test"
REGION = "eu-west-1"
REPO_MODELS = Path(__file__).resolve().parents[3] / "models"
START = datetime(2026, 3, 2, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield client


def _at(hours: float) -> datetime:
    return START + timedelta(hours=hours)


@pytest.mark.parametrize(
    ("since", "until", "span", "wanted"),
    [
        # within one day: the hours from since - span to until + the put slack (1 h)
        (
            _at(5.5),
            _at(7),
            timedelta(0),
            [
                "decisions/2026/03/02/05/",
                "decisions/2026/03/02/06/",
                "decisions/2026/03/02/07/",
                "decisions/2026/03/02/08/",
            ],
        ),
        (
            _at(5),
            _at(6),
            HOUR,
            [
                "decisions/2026/03/02/04/",
                "decisions/2026/03/02/05/",
                "decisions/2026/03/02/06/",
                "decisions/2026/03/02/07/",
            ],
        ),
        # whole days as one prefix, the edges by the hour
        (
            _at(24),
            _at(72),
            timedelta(hours=2),
            [
                "decisions/2026/03/02/22/",
                "decisions/2026/03/02/23/",
                "decisions/2026/03/03/",
                "decisions/2026/03/04/",
                "decisions/2026/03/05/00/",
                "decisions/2026/03/05/01/",
            ],
        ),
    ],
)
def test_a_window_lists_only_the_prefixes_that_can_hold_it(
    since: datetime, until: datetime, span: timedelta, wanted: list[str]
) -> None:
    assert prefixes("decisions/", since, until, span) == wanted


def test_ranges_share_their_prefixes_and_a_day_covers_its_hours() -> None:
    found = merged_prefixes("decisions/", [(_at(24), _at(48)), (_at(30), _at(31))], timedelta(0))
    assert found == ["decisions/2026/03/03/", "decisions/2026/03/04/00/", "decisions/2026/03/04/01/"]


def test_an_archive_uri_names_its_bucket_and_prefix() -> None:
    assert ArchiveLocation.parse(f"s3://{BUCKET}/decisions/") == ArchiveLocation(BUCKET, "decisions/")
    assert ArchiveLocation.parse(f"s3://{BUCKET}") == ArchiveLocation(BUCKET, "decisions/")
    with pytest.raises(UsageError, match="not an s3:// URI"):
        ArchiveLocation.parse("/var/decisions")


def _upload(client: Any, lines: list[bytes], delay: timedelta = timedelta(milliseconds=40)) -> list[str]:
    keys = []
    for key, body in firehose_objects(log_lines(lines), delay):
        client.put_object(Bucket=BUCKET, Key=key, Body=body)
        keys.append(key)
    return keys


def test_the_window_reads_objects_named_after_an_earlier_oldest_record(s3: Any) -> None:
    # One buffer: its oldest record arrived at 04:59:30, the others in the 05:00 hour.
    lines = [
        b'{"id": "a", "time": "2026-03-02T04:59:30+00:00", "model": "m", "kind": "decision"}',
        b'{"id": "b", "time": "2026-03-02T05:00:10+00:00", "model": "m", "kind": "decision"}',
    ]
    (key,) = _upload(s3, lines)
    assert key.startswith("decisions/2026/03/02/04/")
    assert key.endswith(".jsonl.gz")
    assert gzip.decompress(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()) == b"".join(x + b"\n" for x in lines)
    location = ArchiveLocation(BUCKET)
    assert window_keys(s3, location, [(_at(5), _at(6))], timedelta(minutes=5)) == [key]
    # Nothing of an hour after the put slack, nor before the arrival span, is listed.
    assert window_keys(s3, location, [(_at(7), _at(8))], timedelta(minutes=5)) == []


def test_a_report_from_the_archive_is_the_report_from_the_log(
    catalog: Catalog, default_data: Path, tmp_path: Path, s3: Any
) -> None:
    shift = Shift("bureau_profile:fico_score", START + timedelta(days=110), offset=-60)
    config = SimulationConfig(start=START, days=120, per_day=30, shadow="v1", shifts=(shift,))
    simulate(catalog, "default_risk", default_data, REPO_MODELS, tmp_path / "log", tmp_path / "outcomes", config)
    lines = [segment.rstrip(b"\n") for segment in segment_path(tmp_path / "log", 1).read_bytes().splitlines(True)]
    assert len(lines) == sum(1 for _ in read_decision_log(tmp_path / "log"))
    keys = _upload(s3, lines)
    assert len(keys) > 1000
    # Delivery is at least once: every 20th object delivered again, under a key of its own.
    for key in keys[::20]:
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        s3.put_object(Bucket=BUCKET, Key=key.replace(".jsonl.gz", "-again.jsonl.gz"), Body=body)
    # A poisoned object under a prefix no range can hold: listing it would fail the report.
    s3.put_object(Bucket=BUCKET, Key="decisions/2025/01/01/00/poison.jsonl.gz", Body=b"not gzip")
    as_of = START + timedelta(days=120)
    local = MonitorOptions(tmp_path / "log", REPO_MODELS, tmp_path / "outcomes", as_of)
    archived = MonitorOptions(f"s3://{BUCKET}/decisions/", REPO_MODELS, tmp_path / "outcomes", as_of)
    from_log, from_archive = monitor(catalog, "default_risk", local), monitor(catalog, "default_risk", archived)
    assert to_json(from_archive) == to_json(from_log)
    assert from_archive.drifted()[0] == shift.ref
    assert from_archive.performance is not None
    assert sum(m.with_outcome for m in from_archive.performance.months) > 500
