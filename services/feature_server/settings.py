"""The feature server's settings, read once from the environment (``MLPLAT_*``)."""

from __future__ import annotations

from pathlib import Path

import orjson
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from mlplat.catalog import Catalog
from mlplat.errors import UsageError
from mlplat.loader import load_catalog
from mlplat.online_store.connect import auth_token


class Settings(BaseSettings):
    """Everything the server needs; a wrong value fails start-up naming the variable."""

    model_config = SettingsConfigDict(env_prefix="MLPLAT_", extra="forbid", frozen=True)

    catalog: Path = Path("catalog.json")
    """MLPLAT_CATALOG: the catalog's JSON snapshot (a ConfigMap on Kubernetes), or a spec directory for local runs."""
    online_store_url: str = "sqlite:///data/online.db"
    """MLPLAT_ONLINE_STORE_URL: redis://, rediss:// (TLS) or sqlite:/// URL of the online store."""
    online_store_namespace: str = "mlplat"
    """MLPLAT_ONLINE_STORE_NAMESPACE: key prefix in the online store."""
    online_store_timeout: float = Field(default=0.25, gt=0, le=30)
    """MLPLAT_ONLINE_STORE_TIMEOUT: seconds a store call may take before the server answers 503."""
    redis_auth_token: SecretStr | None = None
    """MLPLAT_REDIS_AUTH_TOKEN: ElastiCache AUTH token (from a Kubernetes secret). Left out: read from the secret ARN below, or no AUTH."""
    online_store_auth_secret_arn: str | None = None
    """MLPLAT_ONLINE_STORE_AUTH_SECRET_ARN: Secrets Manager secret holding the AUTH token (read once at start-up with the pod's role)."""
    max_entities: int = Field(default=1_000, ge=1)
    """MLPLAT_MAX_ENTITIES: entity rows per /get-online-features request; more is 413."""
    max_push_rows: int = Field(default=10_000, ge=1)
    """MLPLAT_MAX_PUSH_ROWS: rows per /push request; more is 413."""
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    """MLPLAT_MAX_BODY_BYTES: request body size; more is 413."""
    store_retry_seconds: float = Field(default=0.5, ge=0, le=60)
    """MLPLAT_STORE_RETRY_SECONDS: after a store failure, answer 503 at once for this long before trying the store again."""
    store_threads: int = Field(default=4, ge=1, le=256)
    """MLPLAT_STORE_THREADS: concurrent push writes per worker process."""
    host: str = "0.0.0.0"  # noqa: S104 - a container listens on every interface
    """MLPLAT_HOST: address to listen on."""
    port: int = Field(default=6566, ge=1, le=65535)
    """MLPLAT_PORT: port to listen on (Feast's default)."""
    workers: int = Field(default=1, ge=1, le=64)
    """MLPLAT_WORKERS: uvicorn worker processes."""
    graceful_shutdown_seconds: float = Field(default=10, ge=0)
    """MLPLAT_GRACEFUL_SHUTDOWN_SECONDS: time in-flight requests get after SIGTERM."""

    def auth_token(self) -> str | None:
        """The Redis AUTH token: given directly, else read from Secrets Manager, else none."""
        token = self.redis_auth_token.get_secret_value() if self.redis_auth_token is not None else None
        return auth_token(token, self.online_store_auth_secret_arn)

    def load_catalog(self) -> Catalog:
        """The catalog from the snapshot file, or from the spec directory."""
        if self.catalog.is_dir():
            return load_catalog(self.catalog)
        if not self.catalog.is_file():
            raise UsageError(
                f"MLPLAT_CATALOG={str(self.catalog)!r} is neither a catalog snapshot file nor a spec directory; "
                "write one with `mlplat catalog snapshot specs -o catalog.json`"
            )
        try:
            snapshot = orjson.loads(self.catalog.read_bytes())
        except orjson.JSONDecodeError as error:
            raise UsageError(f"MLPLAT_CATALOG={str(self.catalog)!r} is not JSON: {error}") from None
        if not isinstance(snapshot, dict):
            raise UsageError(f"MLPLAT_CATALOG={str(self.catalog)!r} is not a catalog snapshot (a JSON object)")
        return Catalog.from_snapshot(snapshot)
