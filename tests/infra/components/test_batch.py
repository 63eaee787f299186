"""The Spark application's roles as each stack renders them: what EMR Serverless needs to run and log a job."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.rendering import STACKS, Rendered

POLICY = "aws:iam/rolePolicy:RolePolicy"


def _statements(rendered: Rendered, name: str) -> list[dict[str, Any]]:
    return list(json.loads(rendered.one(POLICY, name).plain["policy"])["Statement"])


def _allowed(statements: list[dict[str, Any]], action: str) -> set[str]:
    found: set[str] = set()
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if action in actions:
            found.update(resources)
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_the_job_role_can_encrypt_its_s3_logs_with_the_applications_key(
    stacks: dict[str, Rendered], stack: str
) -> None:
    rendered = stacks[stack]
    app = rendered.one("aws:emrserverless/application:Application", f"mlplat-{stack}-batch-spark").plain
    s3_key = app["monitoringConfiguration"]["s3MonitoringConfiguration"]["encryptionKeyArn"]
    cloudwatch_key = app["monitoringConfiguration"]["cloudwatchLoggingConfiguration"]["encryptionKeyArn"]
    job = [
        s
        for p in rendered.of_type(POLICY)
        if p.name.startswith(f"mlplat-{stack}-batch-job-")
        for s in json.loads(p.plain["policy"])["Statement"]
    ]
    for key in (s3_key, cloudwatch_key):
        assert key in _allowed(job, "kms:GenerateDataKey")
        assert key in _allowed(job, "kms:Decrypt")


@pytest.mark.parametrize("stack", STACKS)
def test_describe_log_groups_is_granted_on_the_accounts_logs_and_writes_on_the_one_group(
    stacks: dict[str, Rendered], stack: str
) -> None:
    statements = _statements(stacks[stack], f"mlplat-{stack}-batch-job-write-cloudwatch-logs")
    assert _allowed(statements, "logs:DescribeLogGroups") == {"arn:aws:logs:eu-west-1:123456789012:*"}
    group = f"arn:aws:cloudwatch:eu-west-1:123456789012:mlplat-{stack}-batch-job-logs"
    assert _allowed(statements, "logs:PutLogEvents") == {group, f"{group}:*"}


@pytest.mark.parametrize("stack", STACKS)
def test_the_scheduler_may_use_the_keys_the_job_logs_are_encrypted_with(
    stacks: dict[str, Rendered], stack: str
) -> None:
    statements = _statements(stacks[stack], f"mlplat-{stack}-batch-scheduler-use-log-keys")
    keys = {f"arn:aws:kms:eu-west-1:123456789012:mlplat-{stack}-{k}-key-key" for k in ("data", "logs")}
    assert _allowed(statements, "kms:GenerateDataKey") == keys


@pytest.mark.parametrize("stack", STACKS)
def test_the_scheduler_may_tag_the_runs_its_requests_tag(stacks: dict[str, Rendered], stack: str) -> None:
    # A StartJobRun carrying tags is refused unless the caller may also tag the new run.
    rendered = stacks[stack]
    scheduler = f"mlplat-{stack}-batch-scheduler-role-id"
    granted = [
        s for p in rendered.of_type(POLICY) if p.plain["role"] == scheduler for s in _statements(rendered, p.name)
    ]
    application = rendered.one("aws:emrserverless/application:Application", f"mlplat-{stack}-batch-spark")
    application_arn = f"arn:aws:emrserverless:eu-west-1:123456789012:{application.name}"
    tagged = [
        s for s in rendered.of_type("aws:scheduler/schedule:Schedule") if json.loads(s.plain["target"]["input"])["Tags"]
    ]
    assert tagged
    assert _allowed(granted, "emr-serverless:TagResource") == {f"{application_arn}/jobruns/*"}
