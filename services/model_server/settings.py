"""The model server's configuration, read once from the environment into a typed object."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from mlplat.errors import UsageError
from mlplat.online_store import DEFAULT_NAMESPACE
from services.model_server.decision_log import Durability


class SettingsError(UsageError):
    """An environment variable has a value the server cannot use."""


class LogSinkKind(StrEnum):
    """Where decision records go."""

    FILE = "file"
    KINESIS = "kinesis"


@dataclass(frozen=True)
class Settings:
    """Everything the server is told at start. Defaults suit one laptop.

    Attributes:
        catalog: ``MLPLAT_CATALOG``: a catalog snapshot (``.json``) or a spec directory. Default ``specs``.
        models: ``MLPLAT_MODELS``: comma-separated models to serve. Default: every model in the catalog.
        artifact_root: ``MLPLAT_ARTIFACT_ROOT``: where relative artifact URIs resolve. Default ``models``.
        s3_endpoint_url: ``MLPLAT_S3_ENDPOINT_URL``: S3 endpoint for ``s3://`` artifacts. Default: AWS's.
        aws_region: ``AWS_REGION``: region for S3 and Kinesis. Default: boto3's chain.
        online_store_url: ``MLPLAT_ONLINE_STORE_URL``. Default ``redis://127.0.0.1:6379/0``.
        online_store_namespace: ``MLPLAT_ONLINE_STORE_NAMESPACE``. Default the store's own.
        online_store_timeout_s: ``MLPLAT_ONLINE_STORE_TIMEOUT_MS`` (ms). Default 50: a decision
            waits no longer for features before answering 503.
        store_retry_s: ``MLPLAT_STORE_RETRY_MS`` (ms): after a store failure, decisions answer
            503 at once for this long, then one request tries the store again. Default 1000.
        decision_log: ``MLPLAT_DECISION_LOG``: ``file`` (default) or ``kinesis``.
        decision_log_path: ``MLPLAT_DECISION_LOG_PATH``. Default ``decisions/decisions.jsonl``.
        decision_log_durability: ``MLPLAT_DECISION_LOG_DURABILITY``: ``fsync`` (default: answer
            after the batch's fsync) or ``write`` (answer after the write, fsync right after).
        kinesis_stream: ``MLPLAT_DECISION_STREAM``: stream name; required with ``kinesis``.
        kinesis_endpoint_url: ``MLPLAT_KINESIS_ENDPOINT_URL``. Default: AWS's.
        scoring_threads: ``MLPLAT_SCORING_THREADS``: threads that score and explain decisions off
            the event loop. Default 0: on the loop, the lowest latency for a one-CPU replica; more
            lets the native scoring (which releases the GIL) overlap request handling.
        host: ``MLPLAT_HOST``. Default ``127.0.0.1``; ``0.0.0.0`` in a container.
        port: ``MLPLAT_PORT``. Default 8080.
    """

    catalog: Path = Path("specs")
    models: tuple[str, ...] = ()
    artifact_root: Path = Path("models")
    s3_endpoint_url: str | None = None
    aws_region: str | None = None
    online_store_url: str = "redis://127.0.0.1:6379/0"
    online_store_namespace: str = DEFAULT_NAMESPACE
    online_store_timeout_s: float = 0.05
    store_retry_s: float = 1.0
    decision_log: LogSinkKind = LogSinkKind.FILE
    decision_log_path: Path = Path("decisions/decisions.jsonl")
    decision_log_durability: Durability = Durability.FSYNC
    kinesis_stream: str | None = None
    kinesis_endpoint_url: str | None = None
    scoring_threads: int = 0
    host: str = "127.0.0.1"
    port: int = 8080

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Parse ``env`` (``os.environ``); :class:`SettingsError` names the variable and the fix."""
        defaults = cls()
        sink = _choice(env, "MLPLAT_DECISION_LOG", LogSinkKind, defaults.decision_log)
        durability = _choice(env, "MLPLAT_DECISION_LOG_DURABILITY", Durability, defaults.decision_log_durability)
        stream = env.get("MLPLAT_DECISION_STREAM") or None
        if sink is LogSinkKind.KINESIS and stream is None:
            raise SettingsError("MLPLAT_DECISION_LOG=kinesis needs MLPLAT_DECISION_STREAM (the stream name)")
        return cls(
            catalog=Path(env.get("MLPLAT_CATALOG", str(defaults.catalog))),
            models=tuple(m.strip() for m in env.get("MLPLAT_MODELS", "").split(",") if m.strip()),
            artifact_root=Path(env.get("MLPLAT_ARTIFACT_ROOT", str(defaults.artifact_root))),
            s3_endpoint_url=env.get("MLPLAT_S3_ENDPOINT_URL") or None,
            aws_region=env.get("AWS_REGION") or None,
            online_store_url=env.get("MLPLAT_ONLINE_STORE_URL", defaults.online_store_url),
            online_store_namespace=env.get("MLPLAT_ONLINE_STORE_NAMESPACE", defaults.online_store_namespace),
            online_store_timeout_s=_millis(env, "MLPLAT_ONLINE_STORE_TIMEOUT_MS", defaults.online_store_timeout_s),
            store_retry_s=_millis(env, "MLPLAT_STORE_RETRY_MS", defaults.store_retry_s),
            decision_log=sink,
            decision_log_path=Path(env.get("MLPLAT_DECISION_LOG_PATH", str(defaults.decision_log_path))),
            decision_log_durability=durability,
            kinesis_stream=stream,
            kinesis_endpoint_url=env.get("MLPLAT_KINESIS_ENDPOINT_URL") or None,
            scoring_threads=_count(env, "MLPLAT_SCORING_THREADS", defaults.scoring_threads),
            host=env.get("MLPLAT_HOST", defaults.host),
            port=_integer(env, "MLPLAT_PORT", defaults.port),
        )

    def overridden(
        self,
        *,
        catalog: Path | None = None,
        artifact_root: Path | None = None,
        online_store_url: str | None = None,
        port: int | None = None,
    ) -> Settings:
        """These settings with the given options (command-line flags) replacing the environment's."""
        return replace(
            self,
            catalog=catalog or self.catalog,
            artifact_root=artifact_root or self.artifact_root,
            online_store_url=online_store_url or self.online_store_url,
            port=port or self.port,
        )


def _integer(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number") from None
    if value <= 0:
        raise SettingsError(f"{name}={raw!r} must be positive")
    return value


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise SettingsError(f"{name}={raw!r} is not a whole number of 0 or more")
    return int(raw)


def _millis(env: Mapping[str, str], name: str, default_s: float) -> float:
    raw = env.get(name)
    return default_s if raw is None else _integer(env, name, 1) / 1000


Choice = TypeVar("Choice", bound=StrEnum)


def _choice(env: Mapping[str, str], name: str, kind: type[Choice], default: Choice) -> Choice:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}; use one of {', '.join(k.value for k in kind)}") from None
