"""Scheduled materialization on EMR Serverless: release, job location, schedule and request.

Each ``FeatureView`` with ``spec.materialization`` gets an EventBridge Scheduler schedule
whose universal target calls ``emr-serverless:StartJobRun`` with the request built here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from mlplat.catalog import Catalog
from mlplat.name_limits import job_run_name
from mlplat.offline.emr import spark_submit_parameters
from mlplat.spec.types import SCHEDULE_GRANULARITY

#: EMR Serverless 7.9.0 ships Apache Spark 3.5.5, the version the Spark jobs are tested
#: with (pyspark==3.5.5 in requirements.txt). Change both together.
EMR_RELEASE_LABEL = "emr-7.9.0"
SPARK_VERSION = "3.5.5"

#: The Spark job, its key in the artifacts bucket, and where each view's catalog slice goes.
#: Keys start with ``_`` so they can never collide with a model's prefix (names start with a letter).
MATERIALIZE_SCRIPT = Path(__file__).resolve().parent.parent / "services" / "jobs" / "materialize_spark.py"
MATERIALIZE_SCRIPT_KEY = "_jobs/materialize_spark.py"
VIEW_CATALOG_PREFIX = "_jobs/views/"

#: EventBridge Scheduler universal target for the EMR Serverless API.
START_JOB_RUN_TARGET = "arn:aws:scheduler:::aws-sdk:emrserverless:startJobRun"
#: Scheduler fills this in per invocation; StartJobRun uses it as its idempotency token,
#: so a retried invocation never starts a second run.
EXECUTION_ID = "<aws.scheduler.execution-id>"

_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60))


def rate_expression(every: timedelta) -> str:
    """An EventBridge Scheduler ``rate()`` expression for an interval (``15m`` -> ``rate(15 minutes)``)."""
    seconds = int(every.total_seconds())
    if every < SCHEDULE_GRANULARITY or every % SCHEDULE_GRANULARITY:
        # The spec type refuses such intervals (mlplat validate); this guards other callers.
        raise ValueError(
            f"materialization.every is {seconds}s; the scheduler runs at most once a minute, in whole minutes"
        )
    for unit, size in _UNITS:
        if seconds % size == 0:
            count = seconds // size
            return f"rate({count} {unit}{'' if count == 1 else 's'})"
    raise AssertionError("unreachable: minutes divide every whole-minute interval")


def view_catalog_key(view: str) -> str:
    """Key of the view's catalog slice in the artifacts bucket."""
    return f"{VIEW_CATALOG_PREFIX}{view}.json"


def view_catalog(catalog: Catalog, view: str) -> dict[str, Any]:
    """The smallest catalog the job needs for one view: the view, its source(s) and entities.

    A per-view slice (rather than the whole catalog) means adding a view never changes the
    objects other views' jobs read.
    """
    return catalog.subset(views=[view]).to_snapshot()


def spark_job_request(
    *,
    application_id: str,
    job_role_arn: str,
    name: str,
    entry_point: str,
    arguments: list[str],
    job_environment: Mapping[str, str],
    tags: Mapping[str, str],
) -> dict[str, Any]:
    """A StartJobRun request body for a scheduled Spark job (materialization, monitoring).

    The scheduler fills in the client token per invocation; the job's environment, and the
    job image's Python, reach the driver and the executors through ``spark-submit``
    settings built by the same function as manual runs'
    (:func:`mlplat.offline.emr.spark_submit_parameters`).
    """
    return {
        "ApplicationId": application_id,
        "ExecutionRoleArn": job_role_arn,
        "ClientToken": EXECUTION_ID,
        "Name": name,
        "JobDriver": {
            "SparkSubmit": {
                "EntryPoint": entry_point,
                "EntryPointArguments": arguments,
                "SparkSubmitParameters": spark_submit_parameters(job_environment),
            }
        },
        "Tags": dict(tags),
    }


def start_job_run_request(
    *,
    application_id: str,
    job_role_arn: str,
    artifacts_bucket: str,
    view: str,
    environment: str,
    job_environment: dict[str, str],
) -> dict[str, Any]:
    """The StartJobRun request body the schedule sends for ``view``.

    The job reads its view's catalog slice and finds its stores through environment
    variables (endpoints and Secrets Manager ARNs, never secret values).
    """
    return spark_job_request(
        application_id=application_id,
        job_role_arn=job_role_arn,
        name=job_run_name("materialization job run", view),
        entry_point=f"s3://{artifacts_bucket}/{MATERIALIZE_SCRIPT_KEY}",
        arguments=[
            "--catalog",
            f"s3://{artifacts_bucket}/{view_catalog_key(view)}",
            "--view",
            view,
            "--environment",
            environment,
        ],
        job_environment=job_environment,
        tags={"mlplat-spec": f"FeatureView/{view}", "environment": environment},
    )
