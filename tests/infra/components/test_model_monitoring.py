"""Each served model's monitoring job as the stacks render it: its schedule, its request, and a role that
reads the archive and writes its reports and gauges, nothing more."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.components.decision_log import check_file_extension
from infra.model_monitoring import monitoring_job_request, remote_write_url
from infra.rendering import STACKS, Rendered
from mlplat.catalog import Catalog
from mlplat.monitoring.archive import FILE_EXTENSION
from services.jobs.monitor_spark import parse_args

POLICY = "aws:iam/rolePolicy:RolePolicy"
SCHEDULE = "aws:scheduler/schedule:Schedule"


def _policies(rendered: Rendered, prefix: str) -> dict[str, list[dict[str, Any]]]:
    return {
        p.name.removeprefix(prefix + "-"): list(json.loads(p.plain["policy"])["Statement"])
        for p in rendered.of_type(POLICY)
        if p.name.startswith(prefix + "-")
    }


def _grants(statements: list[dict[str, Any]]) -> set[tuple[str, str]]:
    found = set()
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        found |= {(a, r) for a in actions for r in resources}
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_every_served_model_has_a_schedule_on_its_spec_interval(
    stacks: dict[str, Rendered], stack: str, example_catalog: Catalog
) -> None:
    rendered = stacks[stack]
    schedules = {s.plain["name"]: s.plain for s in rendered.of_type(SCHEDULE) if "-monitor-" in s.name}
    assert set(schedules) == {f"mlplat-{stack}-monitor-{m.replace('_', '-')}" for m in example_catalog.models}
    for name, model in example_catalog.models.items():
        schedule = schedules[f"mlplat-{stack}-monitor-{name.replace('_', '-')}"]
        assert model.spec.monitoring.schedule == timedelta(hours=1)
        assert schedule["scheduleExpression"] == "rate(1 hour)"
        assert schedule["groupName"] == f"mlplat-{stack}-materialize"  # the materialization schedules' group
        assert schedule["target"]["arn"] == "arn:aws:scheduler:::aws-sdk:emrserverless:startJobRun"


def test_the_job_role_reads_the_archive_and_writes_its_reports_and_gauges_only(stacks: dict[str, Rendered]) -> None:
    rendered = stacks["prod"]
    prefix = "mlplat-prod-monitor-default-risk"
    policies = _policies(rendered, prefix)
    bucket = "arn:aws:s3:eu-west-1:123456789012:mlplat-prod-{}-bucket"
    data_key = "arn:aws:kms:eu-west-1:123456789012:mlplat-prod-data-key-key"
    assert _grants(policies["read-archive"]) == {
        ("s3:GetObject", bucket.format("decision-archive") + "/decisions/*"),
        ("s3:GetObjectVersion", bucket.format("decision-archive") + "/decisions/*"),
        ("s3:ListBucket", bucket.format("decision-archive")),
        ("kms:Decrypt", data_key),
    }
    writes = {(a, r) for name, statements in policies.items() for a, r in _grants(statements) if a == "s3:PutObject"}
    assert writes == {
        ("s3:PutObject", bucket.format("artifacts") + "/_reports/default_risk/*"),
        ("s3:PutObject", bucket.format("logs") + "/emr/*"),
    }
    assert _grants(policies["remote-write"]) == {
        ("aps:RemoteWrite", "arn:aws:amp:eu-west-1:123456789012:mlplat-prod-monitoring-workspace")
    }
    assert _grants(policies["read-outcomes"]) >= {
        ("s3:GetObject", bucket.format("offline") + "/loan_outcomes.parquet*")
    }
    every_action = {a for statements in policies.values() for a, _ in _grants(statements)}
    assert not any(a.startswith(("secretsmanager:", "kinesis:", "aps:Query", "s3:Delete")) for a in every_action)
    # The role is passed by the platform's scheduler, to EMR Serverless only.
    pass_role = rendered.one(POLICY, f"{prefix}-schedule-pass-role").plain
    assert pass_role["role"] == "mlplat-prod-batch-scheduler-role-id"
    statements = json.loads(pass_role["policy"])["Statement"]
    assert ("iam:PassRole", f"arn:aws:iam:eu-west-1:123456789012:{prefix}") in _grants(statements)
    trust = json.loads(rendered.one("aws:iam/role:Role", prefix).plain["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "emr-serverless.amazonaws.com"}


def test_the_scheduled_request_is_one_the_job_parses(stacks: dict[str, Rendered]) -> None:
    rendered = stacks["prod"]
    schedule = rendered.one(SCHEDULE, "mlplat-prod-monitor-default-risk-schedule").plain
    request = json.loads(schedule["target"]["input"])
    assert request["Name"] == "monitor-default-risk"
    assert request["ExecutionRoleArn"] == "arn:aws:iam:eu-west-1:123456789012:mlplat-prod-monitor-default-risk"
    assert request["ClientToken"] == "<aws.scheduler.execution-id>"
    driver = request["JobDriver"]["SparkSubmit"]
    assert driver["EntryPoint"].endswith("/_jobs/monitor_spark.py")
    now = datetime(2026, 12, 1, 10, 17, 42, tzinfo=UTC)
    args, region = parse_args(driver["EntryPointArguments"], now=now)
    assert region == "eu-west-1"
    assert args.model == "default_risk"
    assert args.archive == "s3://mlplat-prod-decision-archive-123456789012-eu-west-1/decisions/"
    assert args.reports == "s3://mlplat-prod-artifacts-123456789012-eu-west-1/_reports/default_risk/"
    assert args.arrival_span == timedelta(hours=168)  # prod's stream retention
    assert args.as_of == datetime(2026, 12, 1, 10, 17, tzinfo=UTC)
    assert args.remote_write == (
        "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/mlplat-prod-monitoring-workspace/api/v1/remote_write"
    )
    # The job script and the model's catalog slice are uploaded where the request points.
    keys = {o.plain["key"] for o in rendered.of_type("aws:s3/bucketObjectv2:BucketObjectv2")}
    assert {"_jobs/monitor_spark.py", "_jobs/models/default_risk.json"} <= keys


def test_the_archive_is_written_as_the_monitoring_reader_reads_it(stacks: dict[str, Rendered]) -> None:
    (stream,) = stacks["prod"].of_type("aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream")
    s3 = stream.plain["extendedS3Configuration"]
    assert s3["prefix"] == "decisions/!{timestamp:yyyy/MM/dd/HH}/"
    assert s3["compressionFormat"] == "GZIP"
    assert s3["fileExtension"] == FILE_EXTENSION == ".jsonl.gz"
    assert s3["processingConfiguration"] == {"enabled": True, "processors": [{"type": "AppendDelimiterToRecord"}]}


@pytest.mark.parametrize(
    ("extension", "ok"), [(".jsonl.gz", True), ("", True), ("jsonl", False), (".JSON", False), ("." + "a" * 50, False)]
)
def test_file_extensions_follow_firehoses_rule(extension: str, ok: bool) -> None:
    if ok:
        assert check_file_extension(extension) == extension
    else:
        with pytest.raises(ValueError, match="must match"):
            check_file_extension(extension)


def test_the_remote_write_url_is_below_the_workspace_endpoint() -> None:
    endpoint = "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/"
    assert remote_write_url(endpoint) == f"{endpoint}api/v1/remote_write"
    request = monitoring_job_request(
        application_id="app",
        job_role_arn="role",
        artifacts_bucket="art",
        archive_bucket="arc",
        offline_bucket="off",
        prometheus_endpoint=endpoint,
        region="eu-west-1",
        model="fraud",
        environment="dev",
        arrival_span_hours=24,
    )
    assert request["Name"] == "monitor-fraud"
    assert request["Tags"] == {"mlplat-spec": "Model/fraud", "environment": "dev"}
