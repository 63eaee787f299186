"""EMR Serverless entry point: materialize one feature view with the Spark engine.

Infra uploads this file to ``s3://<artifacts>/_jobs/materialize_spark.py`` and starts it
on each view's schedule (and ``mlplat materialize --stack`` starts it by hand) with::

    --catalog s3://<artifacts>/_jobs/views/<view>.json --view <view> --environment <env>
    [--start ISO] [--end ISO]

Where the stores are comes from the environment (``spark.emr-serverless.driverEnv.*``
and ``spark.executorEnv.*``): endpoints and Secrets Manager ARNs, never secret values.
The job reads the secrets itself with its execution role. The Python environment of the
job must have mlplat installed (the image or ``spark.archives`` venv infra provides).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from mlplat.catalog import Catalog
from mlplat.errors import MlplatError, UsageError, exit_code_of
from mlplat.offline.engine import Engine
from mlplat.offline.materialize import MaterializeOptions, OnlineTarget, materialize_view
from mlplat.registry import Registry

REQUIRED = (
    "MLPLAT_OFFLINE_ROOT",
    "MLPLAT_ONLINE_STORE_HOST",
    "MLPLAT_ONLINE_STORE_AUTH_SECRET_ARN",
    "MLPLAT_REGISTRY_HOST",
    "MLPLAT_REGISTRY_SECRET_ARN",
)
#: RDS's CA bundle; RDS certificates are not signed by a public CA, so the job image ships it.
DEFAULT_REGISTRY_CA = "/usr/local/share/mlplat/rds-global-bundle.pem"


@dataclass(frozen=True)
class JobArgs:
    catalog: str
    view: str
    environment: str
    start: datetime | None
    end: datetime | None


@dataclass(frozen=True)
class JobSettings:
    """The job's environment, read once."""

    offline_root: str
    online_host: str
    online_port: int
    online_secret_arn: str
    registry_host: str
    registry_port: int
    registry_database: str
    registry_secret_arn: str
    registry_ca_file: str


def parse_args(argv: Sequence[str]) -> JobArgs:
    parser = argparse.ArgumentParser(prog="materialize_spark", description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", required=True, help="s3:// URI or path of the view's catalog snapshot")
    parser.add_argument("--view", required=True)
    parser.add_argument("--environment", required=True)
    parser.add_argument("--start", type=datetime.fromisoformat, default=None, help="backfill from (ISO, with zone)")
    parser.add_argument("--end", type=datetime.fromisoformat, default=None, help="up to (ISO, with zone); default now")
    args = parser.parse_args(list(argv))
    return JobArgs(args.catalog, args.view, args.environment, args.start, args.end)


def settings_from_env(env: Mapping[str, str]) -> JobSettings:
    """The settings in ``env``; every missing variable is named at once."""
    missing = [name for name in REQUIRED if not env.get(name)]
    if missing:
        raise UsageError(f"the job environment lacks {', '.join(missing)}; infra sets them on the job run")
    return JobSettings(
        offline_root=env["MLPLAT_OFFLINE_ROOT"],
        online_host=env["MLPLAT_ONLINE_STORE_HOST"],
        online_port=int(env.get("MLPLAT_ONLINE_STORE_PORT", "6379")),
        online_secret_arn=env["MLPLAT_ONLINE_STORE_AUTH_SECRET_ARN"],
        registry_host=env["MLPLAT_REGISTRY_HOST"],
        registry_port=int(env.get("MLPLAT_REGISTRY_PORT", "3306")),
        registry_database=env.get("MLPLAT_REGISTRY_DATABASE", "registry"),
        registry_secret_arn=env["MLPLAT_REGISTRY_SECRET_ARN"],
        registry_ca_file=env.get("MLPLAT_REGISTRY_CA_FILE", DEFAULT_REGISTRY_CA),
    )


def auth_token(secret: str) -> str:
    """The Redis AUTH token of a secret: plain text, or JSON with ``password``/``token``/``authToken``."""
    try:
        parsed = json.loads(secret)
    except json.JSONDecodeError:
        return secret
    if isinstance(parsed, dict):
        for field in ("password", "token", "authToken"):
            if isinstance(parsed.get(field), str):
                return str(parsed[field])
    raise UsageError("the online store secret holds JSON without a password, token or authToken field")


def registry_url(settings: JobSettings, secret: str) -> str:
    """The registry's SQLAlchemy URL from an RDS-managed secret (``{"username", "password"}``), TLS verified."""
    credentials = json.loads(secret)
    user, password = quote(credentials["username"], safe=""), quote(credentials["password"], safe="")
    return (
        f"mysql+pymysql://{user}:{password}@{settings.registry_host}:{settings.registry_port}/"
        f"{settings.registry_database}?charset=utf8mb4&ssl_ca={quote(settings.registry_ca_file)}&ssl_check_hostname=true"
    )


def read_catalog(uri: str, s3: Any) -> Catalog:
    """The catalog snapshot at an ``s3://`` URI or a local path."""
    if uri.startswith("s3://"):
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    else:
        with open(uri, encoding="utf-8") as handle:
            text = handle.read()
    return Catalog.from_snapshot(json.loads(text))


@dataclass(frozen=True)
class Job:
    """Everything one run needs, resolved before Spark starts."""

    catalog: Catalog
    view: str
    target: OnlineTarget
    registry_url: str
    options: MaterializeOptions


def prepare(args: JobArgs, env: Mapping[str, str], secrets: Any, s3: Any) -> Job:
    """Resolve the catalog, the stores and the window options (boto3 clients passed in)."""
    settings = settings_from_env(env)
    token = auth_token(secrets.get_secret_value(SecretId=settings.online_secret_arn)["SecretString"])
    database = secrets.get_secret_value(SecretId=settings.registry_secret_arn)["SecretString"]
    target = OnlineTarget(f"rediss://{settings.online_host}:{settings.online_port}/0", password=token)
    options = MaterializeOptions(settings.offline_root, engine=Engine.SPARK, start=args.start, end=args.end)
    return Job(read_catalog(args.catalog, s3), args.view, target, registry_url(settings, database), options)


def start_session() -> None:
    """The job's Spark session, from spark-submit's settings (master, resources); it becomes the active one."""
    from pyspark.sql import SparkSession  # noqa: PLC0415 - heavy, and only the job itself needs it

    SparkSession.builder.appName("mlplat-materialize").config("spark.sql.session.timeZone", "UTC").getOrCreate()


def main(argv: Sequence[str] | None = None) -> int:
    import boto3  # noqa: PLC0415 - only the job on AWS needs it

    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        job = prepare(args, os.environ, boto3.client("secretsmanager"), boto3.client("s3"))
        start_session()  # before the engine looks for the active session, so EMR's master is used
        registry = Registry.open(job.registry_url)
        try:
            result = materialize_view(job.catalog, job.view, job.target, registry, job.options)
        finally:
            registry.close()
    except MlplatError as error:
        sys.stderr.write(f"error: {error}\n")
        return exit_code_of(error)
    sys.stdout.write(
        json.dumps(
            {
                "view": result.view,
                "run": result.run_id,
                "start": result.window.start.isoformat(),
                "end": result.window.end.isoformat(),
                "rows": result.rows,
                "applied": result.applied,
                "skipped": result.skipped,
                "failed_runs": list(result.failed_runs),
            }
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
