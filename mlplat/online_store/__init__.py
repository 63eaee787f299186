"""The online store: latest feature values per (view, entity), read in one round trip.

This package is the one owner of the wire format (key layout, value encoding, event
timestamps; :mod:`mlplat.online_store.codec`, documented in ``docs/online-store.md``).
Every reader and writer (feature server, model server, materialization, the Spark job)
goes through it. Backends: Redis (ElastiCache in AWS) and SQLite (the embedded default),
both opened with :func:`open_store`.
"""

from mlplat.online_store.base import (
    BulkOnlineStore,
    EntityKey,
    FeatureStatus,
    FeatureValue,
    OnlineStore,
    ReadRequest,
    ReadResult,
    Row,
    ViewStatus,
)
from mlplat.online_store.codec import FORMAT_VERSION, FeatureValueError, coerce
from mlplat.online_store.connect import DEFAULT_NAMESPACE, DEFAULT_TIMEOUT, open_store, redacted

__all__ = [
    "DEFAULT_NAMESPACE",
    "DEFAULT_TIMEOUT",
    "FORMAT_VERSION",
    "BulkOnlineStore",
    "EntityKey",
    "FeatureStatus",
    "FeatureValue",
    "FeatureValueError",
    "OnlineStore",
    "ReadRequest",
    "ReadResult",
    "Row",
    "ViewStatus",
    "coerce",
    "open_store",
    "redacted",
]
