"""The feature server's settings: the shared ``MLPLAT_*`` base plus the feature server's limits."""

from __future__ import annotations

from pydantic import Field

from services.settings import ServiceSettings


class Settings(ServiceSettings):
    """Everything the feature server needs; a wrong value fails start-up naming the variable."""

    port: int = Field(default=6566, ge=1, le=65535)
    """MLPLAT_PORT: port to listen on. Default 6566 (Feast's)."""
    max_entities: int = Field(default=1_000, ge=1, le=100_000)
    """MLPLAT_MAX_ENTITIES: entity rows per /get-online-features request; more is 413. Default 1000."""
    max_push_rows: int = Field(default=10_000, ge=1, le=1_000_000)
    """MLPLAT_MAX_PUSH_ROWS: rows per /push request; more is 413. Default 10000."""
    max_push_skew_seconds: float = Field(default=300, ge=0, le=86_400)
    """MLPLAT_MAX_PUSH_SKEW_SECONDS: how far past the server's clock a pushed event time may be; later is 422. Default 300.

    Writes are monotonic per key, so a value dated in the future would block every honest
    write to its key until then.
    """
    store_threads: int = Field(default=4, ge=1, le=256)
    """MLPLAT_STORE_THREADS: concurrent push writes per worker process. Default 4."""
    max_queue_ms: float | None = Field(default=None, gt=0, le=10_000)
    """MLPLAT_MAX_QUEUE_MS: how late the event loop may run, and how long an admitted request may wait for its handler to start, before requests are answered with a fast 503 and ``Retry-After``. Default: 5 ms (``FEATURE_READ_QUEUE_MS`` in :mod:`services.admission`)."""
    workers: int = Field(default=1, ge=1, le=64)
    """MLPLAT_WORKERS: uvicorn worker processes. Default 1."""
