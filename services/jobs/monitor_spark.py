"""EMR Serverless entry point: one model's monitoring report with the Spark engine.

Infra uploads this file to ``s3://<artifacts>/_jobs/monitor_spark.py`` and starts it on the
model's ``spec.monitoring.schedule`` with::

    --catalog s3://<artifacts>/_jobs/models/<model>.json --model <model>
    --archive s3://<decision archive>/decisions/ --data s3://<offline>/ --artifacts s3://<artifacts>/
    --reports s3://<artifacts>/_reports/<model>/ --arrival-span-hours <stream retention>
    --remote-write <workspace endpoint>api/v1/remote_write --region <region> [--as-of ISO]

What it does is :func:`mlplat.monitoring.job.run_monitoring_job`; the gauges are signed with
the job role's credentials. The Python environment of the job must have mlplat installed
(the image or ``spark.archives`` venv infra provides), as for materialization.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from mlplat.errors import MlplatError, UsageError, exit_code_of
from mlplat.monitoring.job import MonitoringJobArgs, run_monitoring_job


def _moment(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value!r} has no time zone")
    return moment


def parse_args(argv: Sequence[str], now: datetime | None = None) -> tuple[MonitoringJobArgs, str | None]:
    """The run's arguments and the workspace's region (for signing)."""
    parser = argparse.ArgumentParser(prog="monitor_spark", description=__doc__.splitlines()[0])
    for name in ("--catalog", "--model", "--archive", "--data", "--artifacts", "--reports"):
        parser.add_argument(name, required=True)
    parser.add_argument("--arrival-span-hours", type=int, required=True)
    parser.add_argument("--remote-write", default=None)
    parser.add_argument("--region", default=None)
    parser.add_argument("--as-of", type=_moment, default=None, help="end of the window (ISO, with zone); default now")
    args = parser.parse_args(list(argv))
    if args.remote_write and not args.region:
        raise UsageError("--remote-write needs --region: the request is signed for the workspace's region")
    # A scheduled run reports up to the minute it started.
    as_of = args.as_of or (now or datetime.now(UTC)).replace(second=0, microsecond=0)
    job = MonitoringJobArgs(
        catalog=args.catalog,
        model=args.model,
        archive=args.archive,
        data=args.data,
        artifacts=args.artifacts,
        reports=args.reports,
        as_of=as_of,
        arrival_span=timedelta(hours=args.arrival_span_hours),
        remote_write=args.remote_write,
    )
    return job, args.region


def main(argv: Sequence[str] | None = None) -> int:
    import boto3  # noqa: PLC0415 - only the job on AWS needs it
    from pyspark.sql import SparkSession  # noqa: PLC0415

    from mlplat.monitoring.remote_write import Series, push  # noqa: PLC0415
    from mlplat.monitoring.spark_aggregates import SparkAggregator  # noqa: PLC0415

    try:
        args, region = parse_args(sys.argv[1:] if argv is None else argv)
        session = (
            SparkSession.builder.appName("mlplat-monitor").config("spark.sql.session.timeZone", "UTC").getOrCreate()
        )
        credentials = boto3.Session().get_credentials()

        def push_metrics(url: str, series: list[Series]) -> int:
            return push(url, series, region=region, credentials=credentials)

        result = run_monitoring_job(args, boto3.client("s3"), lambda uris: SparkAggregator(session, uris), push_metrics)
    except MlplatError as error:
        sys.stderr.write(f"error: {error}\n")
        return exit_code_of(error)
    summary = {
        "model": result.report.model,
        "as_of": result.report.as_of.isoformat(),
        "level": result.report.level.value,
        "objects": result.objects,
        "written": result.written,
        "pushed": result.pushed,
    }
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
