"""The settings base of both services: ``MLPLAT_*`` variables read once into a typed object.

Every settings object of the services is an :class:`EnvironmentSettings`: the feature
server's and the model server's (both :class:`ServiceSettings`, so a variable that both
read has one name, one default and one meaning, documented here) and caller identity's
(``MLPLAT_AUTH*``, :class:`services.identity.IdentitySettings`). A wrong value fails
start-up with a :class:`~mlplat.errors.UsageError` naming every bad variable, its value
and what is accepted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

import orjson
from pydantic import AliasChoices, Field, SecretStr, ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

from mlplat.catalog import Catalog
from mlplat.errors import UsageError
from mlplat.loader import load_catalog
from mlplat.online_store import DEFAULT_NAMESPACE
from mlplat.online_store.connect import auth_token

ENV_PREFIX = "MLPLAT_"


class EnvironmentSettings(BaseSettings):
    """Settings read once from the environment; :meth:`from_environment` turns bad values into one error."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    @classmethod
    def from_environment(cls, **overrides: object) -> Self:
        """The environment with ``overrides`` (command-line flags; ``None`` left out).

        A bad value is one :class:`UsageError` with a bullet per variable.
        """
        given = {name: value for name, value in overrides.items() if value is not None}
        try:
            return cls(**given)  # type: ignore[arg-type]
        except ValidationError as error:
            problems = [cls._problem(e) for e in error.errors()]
            raise UsageError(f"invalid {cls.__name__} settings:\n" + "\n".join(f"  - {p}" for p in problems)) from None

    @classmethod
    def variable(cls, name: str) -> str:
        """The environment variable of field ``name`` (or of the alias an error names)."""
        if name.isupper():
            return name
        field = cls.model_fields.get(name)
        alias = field.validation_alias if field is not None else None
        if isinstance(alias, str):
            return alias
        if isinstance(alias, AliasChoices):
            return next((str(c) for c in alias.choices if isinstance(c, str) and c.isupper()), name)
        return f"{ENV_PREFIX}{name.upper()}"

    @classmethod
    def _problem(cls, error: ErrorDetails) -> str:
        message = error["msg"].removeprefix("Value error, ")
        if not error["loc"]:
            return message  # a check across variables names them itself
        name = str(error["loc"][0])
        field = cls.model_fields.get(name)
        secret = field is not None and "SecretStr" in str(field.annotation)
        value: Any = error.get("input")
        shown = f"={value!r}" if not secret and isinstance(value, str | int | float) else ""
        return f"{cls.variable(name)}{shown}: {message}"


class ServiceSettings(EnvironmentSettings):
    """What every service reads; each field's docstring names its variable and default."""

    catalog: Path = Path("specs")
    """MLPLAT_CATALOG: a catalog JSON snapshot (a ConfigMap on Kubernetes) or a spec directory. Default ``specs``."""
    online_store_url: str = "sqlite:///.mlplat/online.db"
    """MLPLAT_ONLINE_STORE_URL: ``redis://``, ``rediss://`` (TLS) or ``sqlite:///`` URL. Default: the embedded store ``mlplat up`` writes."""
    online_store_namespace: str = DEFAULT_NAMESPACE
    """MLPLAT_ONLINE_STORE_NAMESPACE: key prefix in the online store. Default ``mlplat``."""
    online_store_timeout: float = Field(default=0.1, gt=0, le=30)
    """MLPLAT_ONLINE_STORE_TIMEOUT: seconds a store call may take before the request is answered 503. Default 0.1."""
    redis_auth_token: SecretStr | None = None
    """MLPLAT_REDIS_AUTH_TOKEN: ElastiCache AUTH token (from a Kubernetes secret; never logged). Default: none."""
    online_store_auth_secret_arn: str | None = None
    """MLPLAT_ONLINE_STORE_AUTH_SECRET_ARN: Secrets Manager secret holding the AUTH token, read once at start-up with the pod's role when no token is given. Default: none."""
    aws_region: str | None = Field(default=None, validation_alias=AliasChoices("AWS_REGION", "aws_region"))
    """AWS_REGION: region of the AWS APIs the service calls. Default: boto3's chain."""
    store_retry_seconds: float = Field(default=0.5, ge=0, le=60)
    """MLPLAT_STORE_RETRY_SECONDS: after a store failure, answer 503 at once for this long before trying the store again. Default 0.5."""
    max_in_flight: int | None = Field(default=None, ge=1, le=100_000)
    """MLPLAT_MAX_IN_FLIGHT: requests a worker process works on at once; past it a fast 503 with ``Retry-After`` (probes and /metrics excepted). Default: derived from the latency objective and the measured CPU per request (:mod:`services.admission`)."""
    max_queue_ms: float | None = Field(default=None, gt=0, le=10_000)
    """MLPLAT_MAX_QUEUE_MS: how late the event loop may run, and how long an admitted request may wait for its handler to start, before requests are answered with a fast 503 and ``Retry-After``. Default: 5 ms (``FEATURE_READ_QUEUE_MS`` and ``DECISION_QUEUE_MS`` in :mod:`services.admission`)."""
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    """MLPLAT_MAX_BODY_BYTES: largest request body; more is 413. Default 8 MiB."""
    host: str = "127.0.0.1"
    """MLPLAT_HOST: address to listen on. Default loopback; containers pass ``0.0.0.0``."""
    port: int = Field(default=8080, ge=1, le=65535)
    """MLPLAT_PORT: port to listen on (each service has its own default)."""
    graceful_shutdown_seconds: float = Field(default=20, ge=0, le=300)
    """MLPLAT_GRACEFUL_SHUTDOWN_SECONDS: time in-flight requests get after SIGTERM. Default 20; on the cluster the Deployment sets it, inside the pod's grace period after its preStop delay (:mod:`infra.workloads.manifests`)."""

    def environment(self) -> dict[str, str]:
        """These settings as ``MLPLAT_*`` variables, so worker processes rebuild the same settings."""
        variables = {}
        for name, value in self.model_dump().items():
            if value is None or value == ():
                continue
            if isinstance(value, SecretStr):
                text = value.get_secret_value()
            elif isinstance(value, tuple | list):
                text = ",".join(str(v) for v in value)
            else:
                text = str(value)
            variables["AWS_REGION" if name == "aws_region" else f"{ENV_PREFIX}{name.upper()}"] = text
        return variables

    def store_password(self) -> str | None:
        """The Redis AUTH token: given directly, else read once from Secrets Manager, else none."""
        token = self.redis_auth_token.get_secret_value() if self.redis_auth_token is not None else None
        return auth_token(token, self.online_store_auth_secret_arn, self.aws_region)

    def load_catalog(self) -> Catalog:
        """The catalog from the spec directory or the snapshot file ``MLPLAT_CATALOG`` names."""
        path = self.catalog
        if path.is_dir():
            return load_catalog(path)
        if not path.is_file():
            raise UsageError(
                f"MLPLAT_CATALOG={str(path)!r} is neither a catalog snapshot file nor a spec directory; "
                "write one with `mlplat catalog snapshot --specs specs -o catalog.json`"
            )
        try:
            snapshot = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as error:
            raise UsageError(f"MLPLAT_CATALOG={str(path)!r} is not JSON: {error}") from None
        if not isinstance(snapshot, dict):
            raise UsageError(f"MLPLAT_CATALOG={str(path)!r} is not a catalog snapshot (a JSON object)")
        return Catalog.from_snapshot(snapshot)
