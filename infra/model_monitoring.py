"""Scheduled model monitoring on EMR Serverless: the job, its catalog slice and its request.

Each served ``Model`` gets an EventBridge Scheduler schedule on its ``spec.monitoring.schedule``
whose universal target calls ``emr-serverless:StartJobRun`` with the request built here, on
the application, in the schedule group and with the scheduler role materialization uses
(:mod:`infra.materialization`). The job (``services/jobs/monitor_spark.py``) reads the
decision archive, writes its report under the artifacts bucket's reports prefix and pushes
its gauges to the Managed Prometheus workspace.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infra.materialization import spark_job_request
from mlplat.catalog import Catalog
from mlplat.monitoring.archive import ARCHIVE_PREFIX
from mlplat.monitoring.job import model_catalog_key, reports_prefix
from mlplat.monitoring.remote_write import REMOTE_WRITE_PATH
from mlplat.name_limits import job_run_name

MONITOR_SCRIPT = Path(__file__).resolve().parent.parent / "services" / "jobs" / "monitor_spark.py"
MONITOR_SCRIPT_KEY = "_jobs/monitor_spark.py"


def model_catalog(catalog: Catalog, model: str) -> dict[str, Any]:
    """The smallest catalog the job needs: the model, its views, sources (the label source) and entities."""
    return catalog.subset(models=[model]).to_snapshot()


def remote_write_url(prometheus_endpoint: str) -> str:
    """The workspace's remote-write URL from its ``prometheusEndpoint`` (which ends in ``/``)."""
    return f"{prometheus_endpoint.rstrip('/')}/{REMOTE_WRITE_PATH}"


def monitoring_job_request(
    *,
    application_id: str,
    job_role_arn: str,
    artifacts_bucket: str,
    archive_bucket: str,
    offline_bucket: str,
    prometheus_endpoint: str,
    region: str,
    model: str,
    environment: str,
    arrival_span_hours: int,
) -> dict[str, Any]:
    """The StartJobRun request body the schedule sends for ``model``'s monitoring run."""
    return spark_job_request(
        application_id=application_id,
        job_role_arn=job_role_arn,
        name=job_run_name("monitoring job run", model),
        entry_point=f"s3://{artifacts_bucket}/{MONITOR_SCRIPT_KEY}",
        arguments=[
            "--catalog",
            f"s3://{artifacts_bucket}/{model_catalog_key(model)}",
            "--model",
            model,
            "--archive",
            f"s3://{archive_bucket}/{ARCHIVE_PREFIX}",
            "--data",
            f"s3://{offline_bucket}/",
            "--artifacts",
            f"s3://{artifacts_bucket}/",
            "--reports",
            f"s3://{artifacts_bucket}/{reports_prefix(model)}",
            "--arrival-span-hours",
            str(arrival_span_hours),
            "--remote-write",
            remote_write_url(prometheus_endpoint),
            "--region",
            region,
        ],
        job_environment={"MLPLAT_ENVIRONMENT": environment},
        tags={"mlplat-spec": f"Model/{model}", "environment": environment},
    )
