"""The online store: latest feature values per (view, entity), read in one round trip.

This package is the one owner of the wire format (key layout, value encoding, event
timestamps). Every reader and writer (feature server, model server, materialization,
the Spark job) goes through it. Backends: Redis (ElastiCache in AWS) and SQLite (the
embedded default).
"""

from mlplat.online_store.base import (
    EntityKey,
    FeatureStatus,
    FeatureValue,
    OnlineStore,
    ReadRequest,
    Row,
)

__all__ = ["EntityKey", "FeatureStatus", "FeatureValue", "OnlineStore", "ReadRequest", "Row"]
