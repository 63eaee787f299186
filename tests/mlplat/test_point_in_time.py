"""One rule of availability and freshness, and every side that applies it agrees at the boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from mlplat.catalog import Catalog
from mlplat.offline.engine import Engine
from mlplat.offline.sources import TIMESTAMP
from mlplat.offline.training_set import build_training_set
from mlplat.online_store.base import FeatureStatus
from mlplat.online_store.codec import ViewCodec, freshness, micros
from mlplat.point_in_time import is_available, is_fresh
from tests.mlplat.offline.test_training_set import SPARK_SOCKETS, write_bureau

T = datetime(2025, 3, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
TTL = timedelta(days=45)  # bureau_profile's


@pytest.mark.parametrize(
    ("age", "ttl", "fresh"),
    [(0, 10, True), (9, 10, True), (10, 10, False), (11, 10, False), (-5, 10, True)],
)
def test_a_value_is_fresh_while_its_age_is_below_the_ttl(age: int, ttl: int, fresh: bool) -> None:
    assert is_fresh(age, ttl) is fresh


@pytest.mark.parametrize(
    ("event", "created", "available"),
    [
        (T, None, True),
        (T, T, True),  # written exactly at t
        (T - US, T - US, True),
        (T + US, None, False),  # a future event
        (T - timedelta(days=3), T + US, False),  # in effect, but written after t
    ],
)
def test_a_row_is_available_once_in_effect_and_written(
    event: datetime, created: datetime | None, available: bool
) -> None:
    assert is_available(event, created, T) is available


def _online_status(catalog: Catalog, age: timedelta) -> FeatureStatus:
    codec = ViewCodec.of(catalog.feature_view("bureau_profile"), catalog.join_keys("bureau_profile"))
    blob = codec.encode(micros(T - age), {"fico_score": 700})
    return freshness(codec, ("fico_score",), blob, micros(T)).status


def _offline_value(catalog: Catalog, root: Path, age: timedelta, engine: Engine) -> object:
    labels = pa.table(
        {"applicant_id": ["a1"], "event_timestamp": pa.array([T], TIMESTAMP), "label": pa.array([1], pa.int32())}
    )
    days = (T - age - datetime(2025, 3, 1, tzinfo=UTC)) / timedelta(days=1)
    write_bureau(root, [("a1", days, days, 700)])
    return build_training_set(catalog, labels, ["bureau_profile:fico_score"], root, engine=engine)["fico_score"][
        0
    ].as_py()


@pytest.mark.parametrize(("age", "fresh"), [(TTL - US, True), (TTL, False), (TTL + US, False)])
def test_online_and_duckdb_agree_at_the_ttl_boundary(
    catalog: Catalog, tmp_path: Path, age: timedelta, fresh: bool
) -> None:
    assert (_online_status(catalog, age) is FeatureStatus.PRESENT) is fresh
    assert (_offline_value(catalog, tmp_path, age, Engine.DUCKDB) == 700) is fresh


@pytest.mark.slow
@SPARK_SOCKETS
def test_spark_agrees_at_the_ttl_boundary(catalog: Catalog, tmp_path: Path, spark: Any) -> None:
    for age, fresh in [(TTL - US, True), (TTL, False)]:
        assert (_offline_value(catalog, tmp_path, age, Engine.SPARK) == 700) is fresh, age
