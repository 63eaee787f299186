"""Materialization on EMR Serverless: build the job run, submit it with boto3, follow it to its end.

What a run needs to know about a deployed stack (application, role, buckets, endpoints,
secret ARNs) comes from the stack's outputs, read once into :class:`StackSettings`:

    pulumi stack output --json --stack prod > .mlplat/stacks/prod.json

The job itself is ``services/jobs/materialize_spark.py``, which infra uploads to the
artifacts bucket together with one catalog slice per view; the request built here has
the same shape as the scheduled runs infra creates, so a manual run and a scheduled
run behave the same.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlplat.errors import MlplatError, UsageError
from mlplat.name_limits import job_run_name

SCRIPT_KEY = "_jobs/materialize_spark.py"
VIEW_CATALOG_PREFIX = "_jobs/views/"
LOG_PREFIX = "emr/"
STACKS_DIR = Path(".mlplat/stacks")
#: The interpreter of the job image (``services/jobs/Dockerfile``): a venv of Python 3.11
#: holding mlplat and its pinned requirements. The EMR base image's own ``python3`` is
#: Amazon Linux's 3.9, which can import neither; Spark runs the driver's and the
#: executors' Python code with this one because every job run names it (see
#: :func:`spark_submit_parameters`).
JOB_PYTHON = "/opt/mlplat/bin/python"
SUCCESS = "SUCCESS"
TERMINAL_STATES = frozenset({SUCCESS, "FAILED", "CANCELLED"})


class JobRunFailedError(MlplatError):
    """An EMR Serverless job run ended in a state other than SUCCESS, or was not seen to end in time."""

    exit_code = 1


class Buckets(BaseModel):
    """Bucket names among the stack outputs."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    offline: str
    artifacts: str
    logs: str


class StackSettings(BaseModel):
    """The stack outputs a materialization run needs (other outputs are ignored on purpose:
    this reads a file `pulumi stack output --json` wrote, which carries every output)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    environment: str
    emr_application_id: str = Field(alias="emrApplicationId")
    emr_job_role_arn: str = Field(alias="emrJobRoleArn")
    buckets: Buckets
    registry_endpoint: str = Field(alias="registryEndpoint")
    """``host:port`` of the registry database."""
    registry_secret_arn: str = Field(alias="registrySecretArn")
    online_store_endpoint: str = Field(alias="onlineStoreEndpoint")
    online_store_auth_secret_arn: str = Field(alias="onlineStoreAuthSecretArn")
    region: str | None = None
    """AWS region of the stack. Left out: the region boto3 finds (AWS_REGION, profile)."""


def stack_settings_path(stack: str) -> Path:
    return STACKS_DIR / f"{stack}.json"


def load_stack_settings(stack: str, path: Path | None = None) -> StackSettings:
    """The settings of ``stack`` from its outputs file; errors say how to write the file."""
    path = path or stack_settings_path(stack)
    export = f"pulumi stack output --json --stack {stack} > {path}"
    if not path.is_file():
        raise UsageError(f"no outputs file for stack {stack!r} at {path}; write it with `{export}`")
    try:
        return StackSettings.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as error:
        raise UsageError(f"{path} is not JSON ({error}); write it again with `{export}`") from None
    except ValidationError as error:
        fields = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
        raise UsageError(f"{path} lacks outputs materialization needs ({fields}); is the stack up to date?") from None


def spark_submit_parameters(environment: Mapping[str, str]) -> str:
    """The ``sparkSubmitParameters`` of a job run: the job image's Python, then the job's environment.

    EMR Serverless passes a driver's environment as ``spark.emr-serverless.driverEnv.*`` and
    an executor's as ``spark.executorEnv.*``; ``PYSPARK_PYTHON`` set in both is how a job
    runs on the Python a custom image installed: the runtime sets its own default for
    the base image's interpreter, so an ``ENV`` in the image alone is not relied on
    (https://docs.aws.amazon.com/emr/latest/EMR-Serverless-UserGuide/application-custom-image.html).
    Scheduled runs (infra) and manual runs (this module) both build theirs here.
    """
    merged = {**environment, "PYSPARK_PYTHON": JOB_PYTHON}
    conf = [f"--conf spark.emr-serverless.driverEnv.{k}={v}" for k, v in sorted(merged.items())]
    conf += [f"--conf spark.executorEnv.{k}={v}" for k, v in sorted(merged.items())]
    return " ".join(conf)


def job_environment(settings: StackSettings) -> dict[str, str]:
    """Where the job finds its stores: endpoints and secret ARNs, never secret values."""
    host, _, port = settings.online_store_endpoint.partition(":")
    return {
        "MLPLAT_ENVIRONMENT": settings.environment,
        "MLPLAT_OFFLINE_ROOT": f"s3://{settings.buckets.offline}/",
        "MLPLAT_ONLINE_STORE_HOST": host,
        "MLPLAT_ONLINE_STORE_PORT": port or "6379",
        "MLPLAT_ONLINE_STORE_AUTH_SECRET_ARN": settings.online_store_auth_secret_arn,
        "MLPLAT_REGISTRY_HOST": settings.registry_endpoint.partition(":")[0],
        "MLPLAT_REGISTRY_SECRET_ARN": settings.registry_secret_arn,
    }


def start_job_run_request(
    settings: StackSettings,
    view: str,
    client_token: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, Any]:
    """The ``StartJobRun`` request materializing ``view`` (``client_token`` makes retries idempotent).

    ``start``/``end`` left out: the job runs incrementally up to its own now, as scheduled runs do.
    """
    environment = job_environment(settings)
    window = [*(["--start", start.isoformat()] if start else []), *(["--end", end.isoformat()] if end else [])]
    artifacts = settings.buckets.artifacts
    return {
        "applicationId": settings.emr_application_id,
        "executionRoleArn": settings.emr_job_role_arn,
        "clientToken": client_token,
        "name": job_run_name("materialization job run", view),
        "jobDriver": {
            "sparkSubmit": {
                "entryPoint": f"s3://{artifacts}/{SCRIPT_KEY}",
                "entryPointArguments": [
                    "--catalog",
                    f"s3://{artifacts}/{VIEW_CATALOG_PREFIX}{view}.json",
                    "--view",
                    view,
                    "--environment",
                    settings.environment,
                    *window,
                ],
                "sparkSubmitParameters": spark_submit_parameters(environment),
            }
        },
        "configurationOverrides": {
            "monitoringConfiguration": {
                "s3MonitoringConfiguration": {"logUri": f"s3://{settings.buckets.logs}/{LOG_PREFIX}"}
            }
        },
        "tags": {"mlplat-spec": f"FeatureView/{view}", "environment": settings.environment, "started-by": "cli"},
    }


@dataclass(frozen=True)
class PollPolicy:
    """How often to ask for a run's state: ``initial`` seconds, growing by ``factor`` up to ``maximum``."""

    initial: float = 5.0
    factor: float = 1.5
    maximum: float = 60.0
    timeout: float = 4 * 3600.0
    """Give up following (the run goes on) after this many seconds."""


def poll_delays(policy: PollPolicy) -> Iterator[float]:
    """The waits between state checks: exponential backoff, capped."""
    delay = policy.initial
    while True:
        yield delay
        delay = min(delay * policy.factor, policy.maximum)


@dataclass(frozen=True)
class JobRunOutcome:
    """How a followed run ended."""

    job_run_id: str
    state: str
    details: str
    log_uri: str

    @property
    def succeeded(self) -> bool:
        return self.state == SUCCESS


def submit(
    client: Any,
    settings: StackSettings,
    view: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    client_token: str | None = None,
) -> str:
    """Start a run materializing ``view`` (over ``[start, end)`` when given); its job run id."""
    request = start_job_run_request(settings, view, client_token or uuid.uuid4().hex, start, end)
    return str(client.start_job_run(**request)["jobRunId"])


def follow(
    client: Any,
    settings: StackSettings,
    job_run_id: str,
    policy: PollPolicy = PollPolicy(),
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    on_state: Callable[[str], None] | None = None,
) -> JobRunOutcome:
    """Poll the run until it ends; ``on_state`` hears each new state. Raises when it does not end in time."""
    log_uri = f"s3://{settings.buckets.logs}/{LOG_PREFIX}applications/{settings.emr_application_id}/jobs/{job_run_id}/"
    started = clock()
    seen = None
    for delay in poll_delays(policy):
        run = client.get_job_run(applicationId=settings.emr_application_id, jobRunId=job_run_id)["jobRun"]
        state = str(run["state"])
        if state != seen and on_state is not None:
            on_state(state)
        seen = state
        if state in TERMINAL_STATES:
            return JobRunOutcome(job_run_id, state, str(run.get("stateDetails") or ""), log_uri)
        if clock() - started + delay > policy.timeout:
            raise JobRunFailedError(
                f"job run {job_run_id} is still {state} after {policy.timeout:.0f} s; it goes on without us. "
                f"Follow it in the EMR Studio console or its logs at {log_uri}"
            )
        sleep(delay)
    raise AssertionError("unreachable: poll_delays never ends")
