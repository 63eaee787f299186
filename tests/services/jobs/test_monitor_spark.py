"""The monitoring job's command line: what infra's request passes, and what it refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mlplat.errors import UsageError
from services.jobs.monitor_spark import parse_args

BASE = [
    "--catalog", "s3://art/_jobs/models/fraud.json", "--model", "fraud", "--archive", "s3://arc/decisions/",
    "--data", "s3://off/", "--artifacts", "s3://art/", "--reports", "s3://art/_reports/fraud/",
    "--arrival-span-hours", "24",
]  # fmt: skip


def test_an_explicit_as_of_and_no_metrics_push() -> None:
    args, region = parse_args([*BASE, "--as-of", "2026-06-01T00:00:00Z"])
    assert (args.as_of, args.remote_write, region) == (datetime(2026, 6, 1, tzinfo=UTC), None, None)
    assert args.arrival_span == timedelta(hours=24)


def test_a_push_without_a_region_is_refused() -> None:
    with pytest.raises(UsageError, match="--remote-write needs --region"):
        parse_args(
            [*BASE, "--remote-write", "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/w/api/v1/remote_write"]
        )


def test_an_as_of_without_a_zone_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args([*BASE, "--as-of", "2026-06-01T00:00:00"])
    assert "has no time zone" in capsys.readouterr().err
