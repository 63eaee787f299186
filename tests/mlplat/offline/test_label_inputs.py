"""Both engines accept the same label inputs: any timestamp unit, naive (UTC) or zoned, and agree on them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlplat.catalog import Catalog
from mlplat.errors import UsageError
from mlplat.offline.engine import Engine
from mlplat.offline.training_set import build_training_set, normalize_labels
from tests.mlplat.offline.test_training_set import PLANTED, SPARK_SOCKETS, T0, write_bureau

REFS = ["bureau_profile:fico_score", "bureau_profile:thin_file"]
UNITS = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
ZONES = [None, "UTC", "America/New_York", "Asia/Kolkata", "+05:45"]
DAY_NS = 86_400 * 10**9
T0_NS = int(T0.timestamp()) * 10**9


@st.composite
def label_sets(draw: st.DrawFn) -> pa.Table:
    """Labels of the planted applicants at instants around the planted rows, in one unit and zone."""
    unit, zone = draw(st.sampled_from(list(UNITS))), draw(st.sampled_from(ZONES))
    per_second = UNITS[unit]
    # Instants from a day before the first planted row to past the ttl of the last, on this unit's grid,
    # and exactly on the planted event times, where the boundaries are.
    on_grid = st.integers(-DAY_NS, 60 * DAY_NS).map(lambda ns: ns // (10**9 // per_second) * (10**9 // per_second))
    planted = st.sampled_from([int(row[1] * DAY_NS) for row in PLANTED] + [int(row[2] * DAY_NS) for row in PLANTED])
    rows = draw(
        st.lists(st.tuples(st.sampled_from(["a1", "a2", "a3", "a4", "a5"]), on_grid | planted), min_size=1, max_size=12)
    )
    values = [(T0_NS + offset) // (10**9 // per_second) for _, offset in rows]
    return pa.table(
        {
            "applicant_id": pa.array([applicant for applicant, _ in rows]),
            "event_timestamp": pa.array(values, pa.timestamp(unit, tz=zone)),
            "label": pa.array(range(len(rows)), pa.int32()),
        }
    )


@pytest.fixture(scope="module")
def planted_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("planted")
    write_bureau(root, PLANTED)
    return root


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(labels=label_sets())
def test_any_unit_and_zone_joins_as_its_instant_in_utc_microseconds(
    catalog: Catalog, planted_root: Path, labels: pa.Table
) -> None:
    as_micros = labels.set_column(
        1, "event_timestamp", labels["event_timestamp"].cast(pa.timestamp(labels["event_timestamp"].type.unit))
    )
    micros = normalize_labels(as_micros)
    assert micros.schema.field("event_timestamp").type == pa.timestamp("us", tz="UTC")
    assert build_training_set(catalog, labels, REFS, planted_root).equals(
        build_training_set(catalog, micros, REFS, planted_root)
    )


@pytest.mark.slow
@SPARK_SOCKETS
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(labels=label_sets())
def test_spark_and_duckdb_give_equal_training_sets_for_any_label_timestamps(
    catalog: Catalog, planted_root: Path, spark: Any, labels: pa.Table, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Through a parquet file, as label sources are read: pandas' nanoseconds and naive times included.
    path = tmp_path_factory.mktemp("labels") / "labels.parquet"
    pq.write_table(labels, path, coerce_timestamps=None, allow_truncated_timestamps=False)
    read = pq.read_table(path)
    assert read.schema.field("event_timestamp").type.unit in ("ms", "us", "ns")  # parquet has no seconds
    duck = build_training_set(catalog, read, REFS, planted_root)
    # the engine's own session is the test's (getOrCreate), so one SparkSession serves every example
    assert build_training_set(catalog, read, REFS, planted_root, engine=Engine.SPARK).equals(duck)


def test_label_times_that_are_not_timestamps_are_refused(catalog: Catalog, planted_root: Path) -> None:
    labels = pa.table({"applicant_id": ["a1"], "event_timestamp": ["2025-03-01T00:00:00Z"]})
    with pytest.raises(UsageError, match="'event_timestamp' column is string; write it as a parquet timestamp"):
        build_training_set(catalog, labels, REFS, planted_root)
