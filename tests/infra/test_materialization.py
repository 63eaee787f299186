"""Schedules, the EMR release, view catalog slices and job requests."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from infra.materialization import (
    EMR_RELEASE_LABEL,
    SPARK_VERSION,
    rate_expression,
    start_job_run_request,
    view_catalog,
)
from infra.rendering import REPO, Rendered
from mlplat.catalog import Catalog
from mlplat.loader import load_catalog
from mlplat.offline.emr import JOB_PYTHON


@pytest.mark.parametrize(
    ("every", "expression"),
    [
        (timedelta(minutes=1), "rate(1 minute)"),
        (timedelta(minutes=15), "rate(15 minutes)"),
        (timedelta(minutes=90), "rate(90 minutes)"),
        (timedelta(hours=1), "rate(1 hour)"),
        (timedelta(hours=6), "rate(6 hours)"),
        (timedelta(days=1), "rate(1 day)"),
        (timedelta(weeks=1), "rate(7 days)"),
    ],
)
def test_rate_expressions(every: timedelta, expression: str) -> None:
    assert rate_expression(every) == expression


@pytest.mark.parametrize("every", [timedelta(seconds=30), timedelta(seconds=90)])
def test_sub_minute_schedules_are_refused_with_the_reason(every: timedelta) -> None:
    with pytest.raises(ValueError, match="whole minutes"):
        rate_expression(every)


def test_the_emr_release_ships_the_spark_the_jobs_are_tested_with() -> None:
    assert EMR_RELEASE_LABEL == "emr-7.9.0"
    pins = (REPO / "requirements.txt").read_text().splitlines()
    assert f"pyspark=={SPARK_VERSION}" in pins


def test_a_views_catalog_slice_is_a_loadable_catalog_of_just_what_it_needs() -> None:
    catalog = load_catalog(REPO / "specs")
    snapshot = view_catalog(catalog, "merchant_risk")
    loaded = Catalog.from_snapshot(snapshot)
    assert list(loaded.feature_views) == ["merchant_risk"]
    assert list(loaded.entities) == ["merchant"]
    assert view_catalog(catalog, "merchant_risk") == snapshot


def test_the_job_request_carries_endpoints_and_secret_arns_never_secrets() -> None:
    request = start_job_run_request(
        application_id="app",
        job_role_arn="arn:role",
        artifacts_bucket="artifacts",
        view="bureau_profile",
        environment="prod",
        job_environment={"MLPLAT_REGISTRY_SECRET_ARN": "arn:secret"},
    )
    spark = request["JobDriver"]["SparkSubmit"]
    assert spark["EntryPoint"] == "s3://artifacts/_jobs/materialize_spark.py"
    assert spark["EntryPointArguments"] == [
        "--catalog",
        "s3://artifacts/_jobs/views/bureau_profile.json",
        "--view",
        "bureau_profile",
        "--environment",
        "prod",
    ]
    assert "spark.emr-serverless.driverEnv.MLPLAT_REGISTRY_SECRET_ARN=arn:secret" in spark["SparkSubmitParameters"]
    assert request["ClientToken"] == "<aws.scheduler.execution-id>"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_scheduled_job_runs_on_the_job_images_python(stacks: dict[str, Rendered], stack: str) -> None:
    """Materialization and monitoring schedules alike: driver and executors run the image's venv."""
    schedules = stacks[stack].of_type("aws:scheduler/schedule:Schedule")
    kinds = {s.name.split("-")[2] for s in schedules}
    assert {"materialize", "monitor"} <= kinds, kinds
    for schedule in schedules:
        params = json.loads(schedule.plain["target"]["input"])["JobDriver"]["SparkSubmit"]["SparkSubmitParameters"]
        conf = params.split(" ")
        assert f"spark.emr-serverless.driverEnv.PYSPARK_PYTHON={JOB_PYTHON}" in conf, schedule.name
        assert f"spark.executorEnv.PYSPARK_PYTHON={JOB_PYTHON}" in conf, schedule.name
