"""The scheduled monitoring run in AWS: one model's report from the S3 archive, written to S3, its gauges pushed.

``services/jobs/monitor_spark.py`` is the EMR Serverless entry point; this module is what it
does, with its clients passed in so tests run it against moto and a real Prometheus:

1. read the model's catalog slice and its versions' profiles from the artifacts bucket;
2. list the archive objects that can hold the window and the matured decisions
   (:mod:`mlplat.monitoring.archive`) and have the engine count them (Spark on EMR);
3. write ``report.json``, ``report.html`` and ``metrics.prom`` under
   ``<reports>/<yyyy>/<MM>/<dd>/<HHmm>/`` and again under ``<reports>/latest/``;
4. push the gauges to the workspace's remote-write endpoint (:mod:`mlplat.monitoring.remote_write`).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from mlplat.catalog import Catalog
from mlplat.errors import UsageError
from mlplat.monitoring.aggregates import Aggregator
from mlplat.monitoring.archive import ArchiveLocation, window_keys
from mlplat.monitoring.html_report import render_html
from mlplat.monitoring.monitor import MonitoringReport, MonitorOptions, build_report, plan_window
from mlplat.monitoring.profile import PROFILE_NAME
from mlplat.monitoring.remote_write import Series, series_of
from mlplat.monitoring.report_data import to_json, to_prometheus

#: Where reports go in the artifacts bucket, one prefix per model (``_`` never starts a model's prefix).
REPORTS_PREFIX = "_reports/"
#: Where each model's catalog slice goes for its job.
MODEL_CATALOG_PREFIX = "_jobs/models/"


def reports_prefix(model: str) -> str:
    return f"{REPORTS_PREFIX}{model}/"


def model_catalog_key(model: str) -> str:
    return f"{MODEL_CATALOG_PREFIX}{model}.json"


@dataclass(frozen=True)
class MonitoringJobArgs:
    """What one run reads and where it writes (the job's command line)."""

    catalog: str
    """``s3://`` URI (or path) of the model's catalog slice."""
    model: str
    archive: str
    """``s3://<decision-archive bucket>/decisions/``."""
    data: str
    """Offline root (``s3://<offline bucket>/``): the label source."""
    artifacts: str
    """``s3://<artifacts bucket>/``: the versions' profiles."""
    reports: str
    """``s3://<artifacts bucket>/_reports/<model>/``."""
    as_of: datetime
    arrival_span: timedelta
    remote_write: str | None = None
    """The workspace's remote-write URL; left out, no gauges are pushed."""


def _split(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise UsageError(f"{uri!r} is not an s3:// URI")
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def read_catalog(uri: str, s3: Any) -> Catalog:
    """The catalog snapshot at an ``s3://`` URI or a local path."""
    if uri.startswith("s3://"):
        bucket, key = _split(uri)
        text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    else:
        text = Path(uri).read_text(encoding="utf-8")
    return Catalog.from_snapshot(json.loads(text))


def fetch_profiles(catalog: Catalog, model: str, artifacts: str, s3: Any, into: Path) -> None:
    """Copy each version's ``profile.json`` (beside its artifact) from the artifacts bucket below ``into``."""
    bucket, base = _split(artifacts)
    for version in catalog.model(model).spec.versions:
        relative = PurePosixPath(version.artifact.uri).parent / PROFILE_NAME
        try:
            body = s3.get_object(Bucket=bucket, Key=f"{base}{relative}")["Body"].read()
        except s3.exceptions.NoSuchKey:
            continue  # the report notes a serving version without one, and needs the primary's
        target = into / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)


def report_keys(reports: str, as_of: datetime) -> tuple[str, list[str]]:
    """The bucket and the two key prefixes a run writes to: its own (by as-of time) and ``latest/``."""
    bucket, prefix = _split(reports if reports.endswith("/") else reports + "/")
    return bucket, [f"{prefix}{as_of:%Y/%m/%d/%H%M}/", f"{prefix}latest/"]


@dataclass(frozen=True)
class JobResult:
    report: MonitoringReport
    objects: int
    """Archive objects read."""
    written: list[str]
    """``s3://`` URIs of the files written."""
    pushed: int
    """Gauges pushed to the remote-write endpoint."""


def run_monitoring_job(
    args: MonitoringJobArgs,
    s3: Any,
    aggregator_for: Callable[[Sequence[str]], Aggregator],
    push_metrics: Callable[[str, list[Series]], int] | None = None,
) -> JobResult:
    """One run: the report of ``args.model`` as of ``args.as_of``, counted by ``aggregator_for(object URIs)``."""
    catalog = read_catalog(args.catalog, s3)
    with tempfile.TemporaryDirectory(prefix="mlplat-profiles-") as scratch:
        fetch_profiles(catalog, args.model, args.artifacts, s3, Path(scratch))
        options = MonitorOptions(args.archive, Path(scratch), args.data, args.as_of, arrival_span=args.arrival_span)
        plan = plan_window(catalog, args.model, options)
    location = ArchiveLocation.parse(args.archive)
    keys = window_keys(s3, location, plan.ranges(), args.arrival_span)
    report = build_report(
        catalog, plan, aggregator_for([f"s3://{location.bucket}/{k}" for k in keys]).aggregate(plan.query)
    )
    metrics = to_prometheus(report)
    files = {
        "report.json": (json.dumps(to_json(report), indent=2) + "\n").encode(),
        "report.html": render_html(report).encode(),
        "metrics.prom": metrics,
    }
    bucket, prefixes = report_keys(args.reports, report.as_of)
    written = []
    for prefix in prefixes:
        for name, body in files.items():
            s3.put_object(Bucket=bucket, Key=f"{prefix}{name}", Body=body)
            written.append(f"s3://{bucket}/{prefix}{name}")
    pushed = 0
    if args.remote_write and push_metrics is not None:
        pushed = push_metrics(args.remote_write, series_of(metrics))
    return JobResult(report, len(keys), written, pushed)
