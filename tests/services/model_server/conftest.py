"""Fixtures of the model server tests: real tiny models, the real Redis, a real HTTP server."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from mlplat.catalog import Catalog
from mlplat.models import ArtifactStore
from mlplat.online_store import OnlineStore, Row, open_store
from services.model_server.app import Components
from services.model_server.decision_log import DecisionLog
from services.model_server.metrics import Metrics
from services.model_server.registry import load_models
from services.model_server.segmented_log import MIN_SEGMENT_BYTES, SegmentedFileSink
from tests.model_fixtures import example_catalog, write_lightgbm, write_xgboost

NOW = datetime.now(UTC)
APPLICANT, MERCHANT = "a-1", "m-1"
#: Stored values of one applicant and one merchant, per view.
FEATURES: dict[str, dict[str, object]] = {
    "bureau_profile": {
        "fico_score": 612,
        "revolving_utilization": 0.91,
        "open_tradelines": 2,
        "delinquencies_24m": 3,
        "inquiries_6m": 7,
        "credit_history_months": 14,
        "total_revolving_balance": 8200.0,
        "has_bankruptcy": False,
        "thin_file": True,
    },
    "repayment_history": {
        "plans_12m": 4,
        "on_time_rate": 0.6,
        "late_payments_90d": 2,
        "max_days_past_due": 45,
        "outstanding_balance": 900.0,
        "avg_plan_amount": 300.0,
        "charged_off_plans": 1,
        "last_payment_at": NOW - timedelta(days=3),
    },
    "application_velocity": {
        "applications_1h": 3,
        "applications_24h": 6,
        "applications_7d": 9,
        "distinct_merchants_24h": 4,
        "distinct_devices_7d": 2,
        "declined_24h": 2,
        "email_age_days": 5,
        "last_device_type": "web",
    },
    "merchant_risk": {
        "merchant_category": "electronics",
        "chargeback_rate_90d": 0.02,
        "refund_rate_90d": 0.05,
        "avg_order_value": 420.0,
        "fraud_rate_90d": 0.01,
        "merchant_age_days": 30,
        "default_rate_180d": 0.08,
    },
}


@pytest.fixture(scope="session")
def artifact_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("artifacts")


@pytest.fixture(scope="session")
def digests(artifact_root: Path) -> dict[str, dict[str, str]]:
    """The example models (tiny, real), two versions each, as the offline trainer writes them."""
    return {
        "default_risk": {
            "v1": write_xgboost(artifact_root / "default_risk/v1/model.ubj", 19, seed=1),
            "v2": write_xgboost(artifact_root / "default_risk/v2/model.ubj", 19, seed=2),
        },
        "fraud": {
            "v1": write_lightgbm(artifact_root / "fraud/v1/model.txt", 13, seed=1),
            "v2": write_lightgbm(artifact_root / "fraud/v2/model.txt", 13, seed=2),
        },
    }


@pytest.fixture(scope="session")
def catalog(specs_dir: Path, digests: dict[str, dict[str, str]]) -> Catalog:
    return example_catalog(specs_dir, digests)


@pytest.fixture
def store(redis_url: str, namespace: str, catalog: Catalog) -> Iterator[OnlineStore]:
    store = open_store(redis_url, catalog, namespace=namespace, timeout=1.0)
    yield store
    store.close()
    # The Redis is shared: leave nothing behind.
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{namespace}:*", count=1000):
        client.delete(key)
    client.close()


def seed_features(store: OnlineStore, applicant: str = APPLICANT, merchant: str = MERCHANT) -> None:
    """Write :data:`FEATURES` for one applicant and one merchant through the online store."""
    for view, values in FEATURES.items():
        key = (merchant,) if view == "merchant_risk" else (applicant,)
        store.write(view, [Row(key, NOW - timedelta(minutes=5), values)])


def components(
    catalog: Catalog,
    artifact_root: Path,
    store: OnlineStore,
    log_dir: Path,
    retry_s: float = 1.0,
    scoring_threads: int = 0,
) -> Components:
    metrics = Metrics()
    models = load_models(catalog, (), ArtifactStore(artifact_root), metrics)
    # Small segments: tests stay light on the disk and cross segment boundaries.
    sink = SegmentedFileSink(log_dir, segment_bytes=MIN_SEGMENT_BYTES)
    log = DecisionLog(sink, on_flush=metrics.observe_flush)
    # The queue-delay target of tests/conftest.py: the client's GIL use is no queue of requests.
    queue_ms = float(os.environ["MLPLAT_MAX_QUEUE_MS"])
    return Components(models, store, log, metrics, retry_s, scoring_threads, max_queue_ms=queue_ms)


ServeFactory = Callable[[Catalog], str]
