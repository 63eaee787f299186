"""Opening an online store from its URL: ``redis://``, ``rediss://`` or ``sqlite:///``."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from mlplat.catalog import Catalog
from mlplat.errors import StoreUnavailableError, UsageError
from mlplat.online_store.base import BulkOnlineStore
from mlplat.online_store.codec import WireFormat

DEFAULT_NAMESPACE = "mlplat"
#: Seconds a store call may take before it fails with StoreUnavailableError.
DEFAULT_TIMEOUT = 0.25
SCHEMES = ("redis", "rediss", "sqlite")


def open_store(
    url: str,
    catalog: Catalog,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    timeout: float = DEFAULT_TIMEOUT,
    password: str | None = None,
) -> BulkOnlineStore:
    """The online store at ``url`` for the online views of ``catalog``.

    * ``redis://host:6379/0`` — Redis without TLS (local, tests).
    * ``rediss://host:6379/0`` — Redis over TLS, as ElastiCache in-transit encryption
      requires; the server certificate is verified against the system CAs.
    * ``sqlite:///relative/file.db`` or ``sqlite:////absolute/file.db`` — the embedded store.

    ``namespace`` prefixes every key, so several environments or test runs can share
    one Redis. ``timeout`` bounds every call (connect and socket); a store that does not
    answer in time raises :class:`~mlplat.errors.StoreUnavailableError`. ``password`` is
    the Redis AUTH token (read it from a secret; it is never logged). Left out: the
    password in the URL, if any, else none.
    """
    if timeout <= 0:
        raise UsageError(f"online store timeout must be positive; got {timeout}")
    scheme = urlsplit(url).scheme
    wire = WireFormat(catalog, namespace)
    if scheme in ("redis", "rediss"):
        from mlplat.online_store.redis_store import RedisOnlineStore  # noqa: PLC0415 - redis only when used

        return RedisOnlineStore.from_url(url, wire, timeout=timeout, password=password, description=redacted(url))
    if scheme == "sqlite":
        from mlplat.online_store.sqlite_store import SqliteOnlineStore  # noqa: PLC0415 - sqlite only when used

        return SqliteOnlineStore(sqlite_path(url), wire, timeout=timeout)
    raise UsageError(
        f"online store URL {redacted(url)!r} has scheme {scheme!r}; use one of "
        "redis://host:port/db, rediss://host:port/db (TLS) or sqlite:///path/to/file.db"
    )


def sqlite_path(url: str) -> Path:
    """The file of a ``sqlite:///`` URL (three slashes: relative, four: absolute)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise UsageError(f"online store URL {url!r} must be sqlite:///relative.db or sqlite:////absolute.db")
    path = Path(url[len(prefix) :])
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def redacted(url: str) -> str:
    """``url`` without its password, fit for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


def auth_token(token: str | None, secret_arn: str | None, region: str | None = None) -> str | None:
    """The Redis AUTH token: ``token`` when given, else read once from Secrets Manager, else none.

    On AWS the services get only the secret's ARN (``MLPLAT_ONLINE_STORE_AUTH_SECRET_ARN``)
    and read it with their pod's role, so no manifest or environment holds the token.
    """
    if token is not None or secret_arn is None:
        return token
    import boto3  # noqa: PLC0415 - only deployments that keep the token in Secrets Manager need it
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    try:
        secret = boto3.client("secretsmanager", region_name=region).get_secret_value(SecretId=secret_arn)
    except (BotoCoreError, ClientError) as error:
        raise StoreUnavailableError(
            f"cannot read the online store AUTH token from {secret_arn}: {error}; "
            "check the secret exists and the service's role may read it"
        ) from None
    return str(secret["SecretString"])
