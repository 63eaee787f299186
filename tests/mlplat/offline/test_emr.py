"""Submitting materialization to EMR Serverless and following it, against moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.emrserverless.models import emrserverless_backends
from typer.testing import CliRunner

from mlplat.cli import app
from mlplat.errors import UsageError
from mlplat.offline.emr import (
    JOB_PYTHON,
    JobRunFailedError,
    PollPolicy,
    StackSettings,
    follow,
    load_stack_settings,
    poll_delays,
    start_job_run_request,
    submit,
)

REGION = "eu-west-1"


def outputs(application_id: str = "00fabc") -> dict[str, Any]:
    """Stack outputs as `pulumi stack output --json` writes them (with outputs we do not use)."""
    return {
        "environment": "staging",
        "vpcId": "vpc-1",
        "emrApplicationId": application_id,
        "emrJobRoleArn": f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/mlplat-staging-emr-job",
        "buckets": {"offline": "off", "artifacts": "art", "logs": "logs", "decisionArchive": "dec"},
        "registryEndpoint": "registry.example.internal:3306",
        "registrySecretArn": "arn:aws:secretsmanager:eu-west-1:1:secret:rds",
        "onlineStoreEndpoint": "cache.example.internal:6379",
        "onlineStoreAuthSecretArn": "arn:aws:secretsmanager:eu-west-1:1:secret:redis",
        "region": REGION,
    }


def test_settings_come_from_the_outputs_file(tmp_path: Path) -> None:
    path = tmp_path / "staging.json"
    path.write_text(json.dumps(outputs()))
    settings = load_stack_settings("staging", path)
    assert settings.emr_application_id == "00fabc"
    assert settings.buckets.logs == "logs"


def test_a_missing_or_incomplete_outputs_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"write it with `pulumi stack output --json --stack prod > "):
        load_stack_settings("prod", tmp_path / "prod.json")
    incomplete = {k: v for k, v in outputs().items() if k != "emrJobRoleArn"}
    (tmp_path / "prod.json").write_text(json.dumps(incomplete))
    with pytest.raises(UsageError, match=r"lacks outputs materialization needs \(emrJobRoleArn: Field required\)"):
        load_stack_settings("prod", tmp_path / "prod.json")


def test_the_request_runs_the_job_script_on_the_view_slice_without_secrets() -> None:
    request = start_job_run_request(StackSettings.model_validate(outputs()), "bureau_profile", "tok")
    driver = request["jobDriver"]["sparkSubmit"]
    assert driver["entryPoint"] == "s3://art/_jobs/materialize_spark.py"
    assert driver["entryPointArguments"] == [
        "--catalog",
        "s3://art/_jobs/views/bureau_profile.json",
        "--view",
        "bureau_profile",
        "--environment",
        "staging",
    ]
    params = driver["sparkSubmitParameters"]
    assert "spark.emr-serverless.driverEnv.MLPLAT_ONLINE_STORE_HOST=cache.example.internal" in params
    assert "spark.executorEnv.MLPLAT_REGISTRY_SECRET_ARN=arn:aws:secretsmanager:eu-west-1:1:secret:rds" in params
    assert "MLPLAT_OFFLINE_ROOT=s3://off/" in params
    # The job image's Python 3.11 venv, for the driver and the executors (the base image's python3 has no mlplat).
    assert f"spark.emr-serverless.driverEnv.PYSPARK_PYTHON={JOB_PYTHON}" in params.split(" ")
    assert f"spark.executorEnv.PYSPARK_PYTHON={JOB_PYTHON}" in params.split(" ")
    assert request["clientToken"] == "tok"
    assert "password" not in json.dumps(request).lower()
    start = datetime(2025, 6, 1, tzinfo=UTC)
    backfill = start_job_run_request(StackSettings.model_validate(outputs()), "bureau_profile", "tok", start)
    assert backfill["jobDriver"]["sparkSubmit"]["entryPointArguments"][-2:] == ["--start", "2025-06-01T00:00:00+00:00"]


def test_polling_backs_off_to_a_cap() -> None:
    delays = poll_delays(PollPolicy(initial=5, factor=2, maximum=30))
    assert [next(delays) for _ in range(6)] == [5, 10, 20, 30, 30, 30]


@pytest.fixture
def emr() -> Iterator[tuple[Any, StackSettings]]:
    with mock_aws():
        client = boto3.client("emr-serverless", region_name=REGION)
        application = client.create_application(name="mlplat-staging-batch", releaseLabel="emr-7.9.0", type="SPARK")
        yield client, StackSettings.model_validate(outputs(application["applicationId"]))


def _job(settings: StackSettings, run_id: str) -> Any:
    backend = emrserverless_backends[DEFAULT_ACCOUNT_ID][REGION]
    return next(run for run in backend.job_runs[settings.emr_application_id] if run.id == run_id)


def test_submission_starts_the_run_described(emr: tuple[Any, StackSettings]) -> None:
    client, settings = emr
    run_id = submit(client, settings, "merchant_risk")
    run = client.get_job_run(applicationId=settings.emr_application_id, jobRunId=run_id)["jobRun"]
    assert run["name"] == "materialize-merchant-risk"
    assert run["executionRole"] == settings.emr_job_role_arn
    assert run["jobDriver"]["sparkSubmit"]["entryPointArguments"][3] == "merchant_risk"


def test_following_polls_with_backoff_until_the_run_ends(emr: tuple[Any, StackSettings]) -> None:
    client, settings = emr
    run_id = submit(client, settings, "merchant_risk")
    job = _job(settings, run_id)
    job.state = "PENDING"
    script = iter([("RUNNING", None), ("RUNNING", None), ("FAILED", "Job failed: executor lost")])
    sleeps: list[float] = []
    states: list[str] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        job.state, job.state_details = next(script)

    outcome = follow(client, settings, run_id, PollPolicy(initial=2, factor=2), sleep=sleep, on_state=states.append)
    assert (outcome.state, outcome.details, outcome.succeeded) == ("FAILED", "Job failed: executor lost", False)
    assert states == ["PENDING", "RUNNING", "FAILED"]
    assert sleeps == [2, 4, 8]
    assert outcome.log_uri == f"s3://logs/emr/applications/{settings.emr_application_id}/jobs/{run_id}/"


def test_following_gives_up_after_the_timeout(emr: tuple[Any, StackSettings]) -> None:
    client, settings = emr
    run_id = submit(client, settings, "merchant_risk")
    _job(settings, run_id).state = "RUNNING"
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(JobRunFailedError, match=r"is still RUNNING after 60 s; it goes on without us"):
        follow(
            client, settings, run_id, PollPolicy(initial=10, factor=1, timeout=60), sleep=sleep, clock=lambda: now[0]
        )
    assert now[0] == 60  # the last look is at the timeout itself


def test_cli_submits_each_view_and_reports_the_end(
    emr: tuple[Any, StackSettings], tmp_path: Path, specs_dir: Path
) -> None:
    _, settings = emr
    path = tmp_path / "staging.json"
    path.write_text(json.dumps(outputs(settings.emr_application_id)))
    result = CliRunner().invoke(
        app,
        [
            "materialize",
            "--stack",
            "staging",
            "--outputs",
            str(path),
            "--view",
            "bureau_profile",
            "--specs",
            str(specs_dir),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "bureau_profile: SUCCESS" in result.output
    backend = emrserverless_backends[DEFAULT_ACCOUNT_ID][REGION]
    assert [run.name for run in backend.job_runs[settings.emr_application_id]] == ["materialize-bureau-profile"]


def test_a_manual_run_starts_the_job_as_the_schedules_do() -> None:
    """The contract with infra: same script, same arguments, same environment passing."""
    from infra.materialization import start_job_run_request as scheduled_request

    settings = StackSettings.model_validate(outputs())
    manual = start_job_run_request(settings, "merchant_risk", "tok")["jobDriver"]["sparkSubmit"]
    environment = {"MLPLAT_OFFLINE_ROOT": "s3://off/"}
    scheduled = scheduled_request(
        application_id=settings.emr_application_id,
        job_role_arn=settings.emr_job_role_arn,
        artifacts_bucket="art",
        view="merchant_risk",
        environment="staging",
        job_environment=environment,
    )["JobDriver"]["SparkSubmit"]
    assert manual["entryPoint"] == scheduled["EntryPoint"]
    assert manual["entryPointArguments"] == scheduled["EntryPointArguments"]
    for part in scheduled["SparkSubmitParameters"].split(" --conf "):
        assert part.removeprefix("--conf ") in manual["sparkSubmitParameters"]
