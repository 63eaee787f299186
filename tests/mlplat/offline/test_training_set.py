"""Point-in-time joins: the latest value at or before each label, within ttl, never a future one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlplat.catalog import Catalog
from mlplat.errors import NotFoundError, UsageError
from mlplat.offline.engine import Engine
from mlplat.offline.sources import TIMESTAMP
from mlplat.offline.spark_engine import spark_training_set
from mlplat.offline.training_set import build_training_set, plan_training_set
from mlplat.spec.kinds import Availability, FeatureView

T0 = datetime(2025, 3, 1, tzinfo=UTC)
# py4j leaves sockets of collect() to the garbage collector
SPARK_SOCKETS = pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning")
BUREAU_COLUMNS = {
    "fico_score": pa.int32(),
    "revolving_utilization": pa.float32(),
    "open_tradelines": pa.int32(),
    "delinquencies_24m": pa.int32(),
    "inquiries_6m": pa.int32(),
    "credit_history_months": pa.int32(),
    "total_revolving_balance": pa.float64(),
    "has_bankruptcy": pa.bool_(),
    "thin_file": pa.bool_(),
}


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def write_bureau(root: Path, rows: list[tuple[str, float, float, int]], base: datetime = T0) -> None:
    """Bureau rows as (applicant, event day, created day, fico), days after ``base``; other features fixed."""
    columns: dict[str, Any] = {
        "applicant_id": pa.array([r[0] for r in rows]),
        "event_timestamp": pa.array([base + timedelta(days=r[1]) for r in rows], TIMESTAMP),
        "created_at": pa.array([base + timedelta(days=r[2]) for r in rows], TIMESTAMP),
    }
    for name, kind in BUREAU_COLUMNS.items():
        value = {"fico_score": None, "has_bankruptcy": False, "thin_file": False}.get(name, 1)
        columns[name] = pa.array([r[3] if name == "fico_score" else value for r in rows], kind)
    pq.write_table(pa.table(columns), root / "bureau_snapshots.parquet")


def labels(rows: list[tuple[str, float]]) -> pa.Table:
    return pa.table(
        {
            "applicant_id": pa.array([r[0] for r in rows]),
            "event_timestamp": pa.array([day(r[1]) for r in rows], TIMESTAMP),
            "label": pa.array(range(len(rows)), pa.int32()),
        }
    )


# bureau_profile has a 45 day ttl
PLANTED = [
    ("a1", 0, 0, 600),
    ("a1", 10, 10, 650),
    ("a1", 10, 11, 660),  # restatement of day 10: the later write wins
    ("a1", 15.5, 15.5, 111),  # after the label at day 15: must never appear
    ("a2", 0, 0, 700),
    ("a3", 20, 20, 720),  # exactly at the label time: usable
    ("a5", 5, 30, 750),  # written late: not available before day 30
]
CASES = [
    ("a1", 15, 660),
    ("a1", 9, 600),
    ("a1", -1, None),  # before any row
    ("a2", 44, 700),
    ("a2", 45, None),  # exactly ttl old: expired
    ("a2", 50, None),
    ("a3", 20, 720),
    ("a4", 20, None),  # no history
    ("a5", 10, None),  # its only row was written on day 30
    ("a5", 30, 750),  # written exactly at the label time: available
    ("a1", 10.5, 650),  # the restatement of day 10 was written on day 11: the original counts
]


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    write_bureau(tmp_path, PLANTED)
    return tmp_path


@pytest.mark.parametrize("engine", [Engine.DUCKDB])
def test_planted_rows_join_as_of_the_label(catalog: Catalog, planted: Path, engine: Engine) -> None:
    result = build_training_set(
        catalog, labels([(a, d) for a, d, _ in CASES]), ["bureau_profile:fico_score"], planted, engine=engine
    )
    assert result.column("fico_score").to_pylist() == [expected for _, _, expected in CASES]
    assert result.column("label").to_pylist() == list(range(len(CASES)))


@pytest.mark.slow
@SPARK_SOCKETS
def test_spark_gives_the_same_planted_rows(catalog: Catalog, planted: Path, spark: Any) -> None:
    request = labels([(a, d) for a, d, _ in CASES])
    refs = ["bureau_profile:fico_score", "bureau_profile:thin_file"]
    duck = build_training_set(catalog, request, refs, planted)
    plan = plan_training_set(catalog, request.schema, refs, planted, "event_timestamp")
    assert spark_training_set(plan, request, spark).equals(duck)
    # By event time alone (DuckDB's ASOF path), the engines agree too, and the late row counts early.
    by_event = event_time_catalog(catalog)
    duck_by_event = build_training_set(by_event, request, refs, planted)
    plan = plan_training_set(by_event, request.schema, refs, planted, "event_timestamp")
    assert spark_training_set(plan, request, spark).equals(duck_by_event)
    assert duck_by_event["fico_score"].to_pylist()[CASES.index(("a5", 10, None))] == 750


def event_time_catalog(catalog: Catalog) -> Catalog:
    """``catalog`` with every view's ``availability: eventTime``."""
    return Catalog(
        [
            obj.model_copy(update={"spec": obj.spec.model_copy(update={"availability": Availability.EVENT_TIME})})
            if isinstance(obj, FeatureView)
            else obj
            for obj in catalog.objects()
        ]
    )


def _all_features(catalog: Catalog) -> list[str]:
    refs = [*catalog.model("default_risk").spec.features, *catalog.model("fraud").spec.features]
    return list(dict.fromkeys(refs))


@pytest.mark.slow
@SPARK_SOCKETS
def test_engines_agree_on_generated_data(catalog: Catalog, small_data: Path, spark: Any) -> None:
    request = pq.read_table(small_data / "loan_outcomes.parquet")
    refs = _all_features(catalog)
    duck = build_training_set(catalog, request, refs, small_data)
    plan = plan_training_set(catalog, request.schema, refs, small_data, "event_timestamp")
    spark_result = spark_training_set(plan, request, spark)
    assert spark_result.schema == duck.schema
    for name in duck.column_names:
        assert spark_result.column(name).equals(duck.column(name)), name
    assert duck.num_rows == request.num_rows


SENTINEL = 1_000_000


def test_future_values_never_leak(catalog: Catalog, small_data: Path, tmp_path: Path) -> None:
    """Plant, for every label, a bureau row one microsecond after it carrying a sentinel score of its own."""
    request = pq.read_table(small_data / "loan_outcomes.parquet")
    bureau = pq.read_table(small_data / "bureau_snapshots.parquet")
    future = pa.table(
        {
            name: (
                request["applicant_id"]
                if name == "applicant_id"
                else pa.array(request["event_timestamp"].to_numpy() + np.timedelta64(1, "us"), TIMESTAMP)
                if name in ("event_timestamp", "created_at")
                else pa.array(SENTINEL + np.arange(request.num_rows), pa.int32())
                if name == "fico_score"
                else bureau[name].take(np.zeros(request.num_rows, dtype=np.int64))
            )
            for name in bureau.schema.names
        }
    )
    for path in small_data.glob("*.parquet"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    pq.write_table(pa.concat_tables([bureau, future.cast(bureau.schema)]), tmp_path / "bureau_snapshots.parquet")
    result = build_training_set(catalog, request, ["bureau_profile:fico_score"], tmp_path)
    times = request["event_timestamp"].to_numpy()
    planted = 0
    for row, value in enumerate(result.column("fico_score").to_pylist()):
        if value is not None and value >= SENTINEL:
            # a planted row may only appear for a later label of the same applicant
            source = value - SENTINEL
            assert times[source] + np.timedelta64(1, "us") <= times[row]
            assert request["applicant_id"][source] == request["applicant_id"][row]
            planted += 1
    assert planted > 0


def _available_as_of(
    rows: dict[str, list[tuple[datetime, datetime, int]]], key: str, at: datetime, ttl: timedelta
) -> int | None:
    """Brute force: the row written and in effect at ``at`` within ``ttl``, latest event then latest write."""
    candidates = [row for row in rows.get(key, []) if row[0] <= at and row[1] <= at and at - row[0] < ttl]
    return max(candidates)[2] if candidates else None


def test_duckdb_agrees_with_an_independent_point_in_time_lookup(catalog: Catalog, small_data: Path) -> None:
    request = pq.read_table(small_data / "loan_outcomes.parquet")
    result = build_training_set(catalog, request, ["repayment_history:on_time_rate"], small_data)
    rows = pq.read_table(small_data / "repayment_rollups.parquet")
    values = rows["on_time_rate"].to_pylist()
    by_key: dict[str, list[tuple[datetime, datetime, int]]] = {}
    columns = (rows[name].to_pylist() for name in ("applicant_id", "event_timestamp", "created_at"))
    for index, (key, event, created) in enumerate(zip(*columns, strict=True)):
        by_key.setdefault(key, []).append((event, created, index))
    found = [
        _available_as_of(by_key, key, at, timedelta(days=7))
        for key, at in zip(request["applicant_id"].to_pylist(), request["event_timestamp"].to_pylist(), strict=True)
    ]
    assert result.column("on_time_rate").to_pylist() == [None if i is None else values[i] for i in found]
    assert 0 < result.column("on_time_rate").null_count < request.num_rows


def test_generated_late_rows_are_left_out_until_written(catalog: Catalog, small_data: Path) -> None:
    """The synthetic sources write 5% of rows days late: the event-time join would use them early."""
    request = pq.read_table(small_data / "loan_outcomes.parquet")
    written = build_training_set(catalog, request, ["bureau_profile:fico_score"], small_data)
    by_event_time = build_training_set(event_time_catalog(catalog), request, ["bureau_profile:fico_score"], small_data)
    differ = sum(
        a != b for a, b in zip(written["fico_score"].to_pylist(), by_event_time["fico_score"].to_pylist(), strict=True)
    )
    assert differ > 0


def test_request_values_pass_through_and_are_checked(catalog: Catalog, planted: Path) -> None:
    request = labels([("a1", 15)]).append_column("order_amount", pa.array([120.0]))
    result = build_training_set(catalog, request, ["request:order_amount", "bureau_profile:fico_score"], planted)
    assert result.column_names == ["applicant_id", "event_timestamp", "label", "order_amount", "fico_score"]
    with pytest.raises(UsageError, match="request value 'request:instalments' is not a column of the labels"):
        build_training_set(catalog, request, ["request:instalments"], planted)


def test_unknown_features_and_missing_keys_are_named(catalog: Catalog, planted: Path) -> None:
    with pytest.raises(NotFoundError, match="feature 'bureau_profile:fico' does not exist"):
        build_training_set(catalog, labels([("a1", 1)]), ["bureau_profile:fico"], planted)
    with pytest.raises(UsageError, match="labels lack the key column"):
        build_training_set(catalog, labels([("a1", 1)]), ["merchant_risk:fraud_rate_90d"], planted)


def test_column_name_clashes_are_refused(catalog: Catalog, planted: Path) -> None:
    clashing = labels([("a1", 15)]).append_column("fico_score", pa.array([1], pa.int32()))
    with pytest.raises(UsageError, match="would overwrite the labels' own 'fico_score' column"):
        build_training_set(catalog, clashing, ["bureau_profile:fico_score"], planted)
    with pytest.raises(UsageError, match="has the name of another requested feature"):
        build_training_set(catalog, labels([("a1", 15)]), ["bureau_profile:fico_score"] * 2, planted)
