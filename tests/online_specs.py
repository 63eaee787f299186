"""A small catalog for online-store and feature-server tests: every dtype, string and int keys."""

from __future__ import annotations

import functools
from typing import Any

import redis

from mlplat.catalog import Catalog
from mlplat.loader import catalog_from_values

ALL_DTYPES = {
    "flag": "bool",
    "count32": "int32",
    "count64": "int64",
    "ratio32": "float32",
    "amount": "float64",
    "label": "string",
    "blob": "bytes",
    "seen_at": "timestamp",
}


def _doc(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "mlplat/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}


def _view(name: str, entities: list[str], ttl: str, features: dict[str, str], online: bool = True) -> dict[str, Any]:
    return _doc(
        "FeatureView",
        name,
        {
            "entities": entities,
            "source": "events",
            "ttl": ttl,
            "online": online,
            "features": [{"name": f, "dtype": d} for f, d in features.items()],
        },
    )


def documents() -> list[dict[str, Any]]:
    return [
        _doc("Entity", "applicant", {"joinKey": "applicant_id", "type": "string"}),
        _doc("Entity", "merchant", {"joinKey": "merchant_id", "type": "int64"}),
        _doc("Source", "events", {"path": "events.parquet", "timestampField": "event_timestamp"}),
        _view("typed", ["applicant"], "1h", ALL_DTYPES),
        _view("merchant_stats", ["merchant"], "1d", {"orders_7d": "int64", "chargeback_rate": "float64"}),
        _view("pair_stats", ["applicant", "merchant"], "30d", {"purchases": "int32"}),
        _view("offline_only", ["applicant"], "30d", {"score": "float64"}, online=False),
        _doc("Source", "live", {"type": "push", "batchSource": "events"}),
        _doc(
            "FeatureView",
            "velocity",
            {
                "entities": ["applicant"],
                "source": "live",
                "ttl": "1d",
                "features": [{"name": "applications_24h", "dtype": "int32"}, {"name": "last_ip", "dtype": "string"}],
            },
        ),
        _doc("FeatureService", "checkout", {"features": ["typed:count64", "merchant_stats:orders_7d"]}),
    ]


@functools.cache
def online_test_catalog() -> Catalog:
    return catalog_from_values(documents(), "<online test specs>")


def delete_namespace(redis_url: str, namespace: str) -> None:
    """Delete a test's keys from a shared Redis (SCAN in large steps: the server holds many keys)."""
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{namespace}:*", count=10_000))
    if keys:
        client.delete(*keys)
    client.close()
