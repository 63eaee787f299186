"""The model server's configuration, read once from the environment into a typed object.

Variable names follow the feature server's where they mean the same thing
(``MLPLAT_CATALOG``, ``MLPLAT_ONLINE_STORE_*``, ``MLPLAT_REDIS_AUTH_TOKEN``,
``MLPLAT_STORE_RETRY_SECONDS``, ``MLPLAT_HOST``, ``MLPLAT_PORT``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from mlplat.errors import UsageError
from mlplat.online_store import DEFAULT_NAMESPACE
from services.model_server.decision_log import Durability
from services.model_server.segmented_log import DEFAULT_SEGMENT_BYTES, MIN_SEGMENT_BYTES

KINESIS_SCHEME = "kinesis://"


class SettingsError(UsageError):
    """An environment variable has a value the server cannot use."""


@dataclass(frozen=True)
class Settings:
    """Everything the server is told at start. Defaults suit one laptop.

    Attributes:
        catalog: ``MLPLAT_CATALOG``: a catalog snapshot (``.json``) or a spec directory. Default ``specs``.
        models: ``MLPLAT_MODEL`` (one) or ``MLPLAT_MODELS`` (comma-separated): models to serve.
            Default: every model in the catalog.
        artifact_root: ``MLPLAT_ARTIFACT_ROOT``: where relative artifact URIs resolve, a directory
            or ``s3://bucket[/prefix]``. Default ``models``.
        s3_endpoint_url: ``MLPLAT_S3_ENDPOINT_URL``: S3 endpoint for artifacts. Default: AWS's.
        aws_region: ``AWS_REGION``: region for S3 and Kinesis. Default: boto3's chain.
        online_store_url: ``MLPLAT_ONLINE_STORE_URL``. Default ``redis://127.0.0.1:6379/0``.
        online_store_namespace: ``MLPLAT_ONLINE_STORE_NAMESPACE``. Default the store's own.
        online_store_timeout_s: ``MLPLAT_ONLINE_STORE_TIMEOUT`` (seconds). Default 0.05: a
            decision waits no longer for features before answering 503.
        redis_auth_token: ``MLPLAT_REDIS_AUTH_TOKEN``: ElastiCache AUTH token (from a Kubernetes
            secret; never logged). Default: none.
        redis_auth_secret_arn: ``MLPLAT_ONLINE_STORE_AUTH_SECRET_ARN``: a Secrets Manager secret
            holding the AUTH token, read once at start when no token is given (the pod's role
            needs ``secretsmanager:GetSecretValue`` on it). Default: none.
        store_retry_s: ``MLPLAT_STORE_RETRY_SECONDS``: after a store failure, decisions answer
            503 at once for this long, then one request tries the store again. Default 1.
        decision_log: ``MLPLAT_DECISION_LOG``: a directory (JSON-lines segment files) or
            ``kinesis://<stream>``. Default ``decisions``.
        decision_log_durability: ``MLPLAT_DECISION_LOG_DURABILITY``: for the files, ``fsync``
            (default: answer after the batch's ``fdatasync``) or ``write`` (answer after the
            write, flush right after).
        decision_log_segment_bytes: ``MLPLAT_DECISION_LOG_SEGMENT_BYTES``: size of one
            preallocated segment file. Default 67108864 (64 MiB); at least 65536.
        kinesis_endpoint_url: ``MLPLAT_KINESIS_ENDPOINT_URL``. Default: AWS's.
        scoring_threads: ``MLPLAT_SCORING_THREADS``: threads that score and explain decisions off
            the event loop. Default 0: on the loop, the lowest latency for a one-CPU replica; more
            lets the native scoring (which releases the GIL) overlap request handling.
        host: ``MLPLAT_HOST``. Default ``127.0.0.1``; ``0.0.0.0`` in a container.
        port: ``MLPLAT_PORT``. Default 8080.
        graceful_shutdown_s: ``MLPLAT_GRACEFUL_SHUTDOWN_SECONDS``: time in-flight requests get
            after SIGTERM. Default 20 (below Kubernetes' 30 s grace period).
    """

    catalog: Path = Path("specs")
    models: tuple[str, ...] = ()
    artifact_root: str = "models"
    s3_endpoint_url: str | None = None
    aws_region: str | None = None
    online_store_url: str = "redis://127.0.0.1:6379/0"
    online_store_namespace: str = DEFAULT_NAMESPACE
    online_store_timeout_s: float = 0.05
    redis_auth_token: str | None = field(default=None, repr=False)
    redis_auth_secret_arn: str | None = None
    store_retry_s: float = 1.0
    decision_log: str = "decisions"
    decision_log_durability: Durability = Durability.FSYNC
    decision_log_segment_bytes: int = DEFAULT_SEGMENT_BYTES
    kinesis_endpoint_url: str | None = None
    scoring_threads: int = 0
    host: str = "127.0.0.1"
    port: int = 8080
    graceful_shutdown_s: float = 20.0

    @property
    def kinesis_stream(self) -> str | None:
        """The decision stream's name when the log goes to Kinesis."""
        return self.decision_log.removeprefix(KINESIS_SCHEME) if self.decision_log.startswith(KINESIS_SCHEME) else None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Parse ``env`` (``os.environ``); :class:`SettingsError` names the variable and the fix."""
        d = cls()
        decision_log = env.get("MLPLAT_DECISION_LOG", d.decision_log)
        if decision_log in ("", KINESIS_SCHEME):
            raise SettingsError(f"MLPLAT_DECISION_LOG={decision_log!r}: give a directory or kinesis://<stream name>")
        segment_bytes = _count(env, "MLPLAT_DECISION_LOG_SEGMENT_BYTES", d.decision_log_segment_bytes)
        if segment_bytes < MIN_SEGMENT_BYTES:
            raise SettingsError(
                f"MLPLAT_DECISION_LOG_SEGMENT_BYTES={segment_bytes}: a segment must hold at least {MIN_SEGMENT_BYTES} bytes"
            )
        models = [env["MLPLAT_MODEL"]] if env.get("MLPLAT_MODEL") else env.get("MLPLAT_MODELS", "").split(",")
        return cls(
            catalog=Path(env.get("MLPLAT_CATALOG", str(d.catalog))),
            models=tuple(m.strip() for m in models if m.strip()),
            artifact_root=env.get("MLPLAT_ARTIFACT_ROOT", d.artifact_root),
            s3_endpoint_url=env.get("MLPLAT_S3_ENDPOINT_URL") or None,
            aws_region=env.get("AWS_REGION") or None,
            online_store_url=env.get("MLPLAT_ONLINE_STORE_URL", d.online_store_url),
            online_store_namespace=env.get("MLPLAT_ONLINE_STORE_NAMESPACE", d.online_store_namespace),
            online_store_timeout_s=_seconds(env, "MLPLAT_ONLINE_STORE_TIMEOUT", d.online_store_timeout_s),
            redis_auth_token=env.get("MLPLAT_REDIS_AUTH_TOKEN") or None,
            redis_auth_secret_arn=env.get("MLPLAT_ONLINE_STORE_AUTH_SECRET_ARN") or None,
            store_retry_s=_seconds(env, "MLPLAT_STORE_RETRY_SECONDS", d.store_retry_s),
            decision_log=decision_log,
            decision_log_durability=_choice(
                env, "MLPLAT_DECISION_LOG_DURABILITY", Durability, d.decision_log_durability
            ),
            decision_log_segment_bytes=segment_bytes,
            kinesis_endpoint_url=env.get("MLPLAT_KINESIS_ENDPOINT_URL") or None,
            scoring_threads=_count(env, "MLPLAT_SCORING_THREADS", d.scoring_threads),
            host=env.get("MLPLAT_HOST", d.host),
            port=_port(env, "MLPLAT_PORT", d.port),
            graceful_shutdown_s=_seconds(env, "MLPLAT_GRACEFUL_SHUTDOWN_SECONDS", d.graceful_shutdown_s),
        )

    def overridden(
        self,
        *,
        catalog: Path | None = None,
        models: tuple[str, ...] = (),
        artifact_root: str | None = None,
        online_store_url: str | None = None,
        host: str | None = None,
        port: int | None = None,
    ) -> Settings:
        """These settings with the given options (command-line flags) replacing the environment's."""
        return replace(
            self,
            catalog=catalog or self.catalog,
            models=models or self.models,
            artifact_root=artifact_root or self.artifact_root,
            online_store_url=online_store_url or self.online_store_url,
            host=host or self.host,
            port=port or self.port,
        )


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    value = _count(env, name, default)
    if not 0 < value < 65536:
        raise SettingsError(f"{name}={env[name]!r} is not a port (1-65535)")
    return value


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise SettingsError(f"{name}={raw!r} is not a whole number of 0 or more")
    return int(raw)


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number of seconds") from None
    if not value > 0:
        raise SettingsError(f"{name}={raw!r} must be more than 0 seconds")
    return value


Choice = TypeVar("Choice", bound=StrEnum)


def _choice(env: Mapping[str, str], name: str, kind: type[Choice], default: Choice) -> Choice:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}; use one of {', '.join(k.value for k in kind)}") from None
