"""The Spark engine of materialization: each partition writes its entities to the online store.

The driver only plans: it filters the window, keeps each entity's latest row, and
hands partitions to executors. Every executor opens the store itself (from the
catalog snapshot shipped with the task) and writes through the same wire format as
the embedded engine, in pipelined batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F  # noqa: N812 - the name every Spark reader knows

from mlplat.catalog import Catalog
from mlplat.offline.materialize import OnlineTarget
from mlplat.offline.sources import OfflineTable
from mlplat.online_store import Row
from mlplat.spec.types import DType

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def latest_frame(
    session: SparkSession, table: OfflineTable, path: str, start: datetime, end: datetime, available_at: datetime
) -> DataFrame:
    """Each entity's latest row in ``[start, end)`` written by ``available_at``; timestamps as microseconds."""
    timestamp = F.col(table.timestamp_field)
    frame = session.read.parquet(path).where((timestamp >= F.lit(start)) & (timestamp < F.lit(end)))
    if table.available_field is not None:  # the rule of mlplat.point_in_time.is_available
        created = F.col(table.available_field)
        frame = frame.where(created.isNull() | (created <= F.lit(available_at)))
    order = [timestamp.desc()]
    if table.created_timestamp_field:
        order.append(F.col(table.created_timestamp_field).desc_nulls_last())
    newest = Window.partitionBy(*table.key_columns).orderBy(*order)
    latest = frame.withColumn("__n", F.row_number().over(newest)).where(F.col("__n") == 1)
    features = [
        F.unix_micros(F.col(name)).alias(name) if dtype is DType.TIMESTAMP else F.col(name)
        for name, dtype in table.features
    ]
    return latest.select(*table.key_columns, F.unix_micros(timestamp).alias(table.timestamp_field), *features)


def _moment(value: int | None) -> datetime | None:
    return None if value is None else EPOCH + timedelta(microseconds=value)


def store_row(values: Mapping[str, Any], table: OfflineTable) -> Row:
    """An online-store row from one Spark row of :func:`latest_frame`."""
    features = {
        name: _moment(values[name]) if dtype is DType.TIMESTAMP else values[name] for name, dtype in table.features
    }
    event_time = _moment(values[table.timestamp_field])
    assert event_time is not None
    return Row(tuple(values[key] for key in table.key_columns), event_time, features)


def partition_writer(
    snapshot: Mapping[str, Any], table: OfflineTable, target: OnlineTarget, batch_rows: int
) -> Callable[[Iterable[Any]], Iterator[tuple[int, int]]]:
    """The function each partition runs: write its rows in batches; yield (rows, applied) once."""

    def write(rows: Iterable[Any]) -> Iterator[tuple[int, int]]:
        store = target.open(Catalog.from_snapshot(snapshot))
        written = applied = 0
        batch: list[Row] = []
        try:
            for spark_row in rows:
                batch.append(store_row(spark_row.asDict(), table))
                if len(batch) >= batch_rows:
                    applied += store.write(table.view, batch)
                    written += len(batch)
                    batch = []
            if batch:
                applied += store.write(table.view, batch)
                written += len(batch)
        finally:
            store.close()
        yield written, applied

    return write


def write_latest(
    catalog: Catalog,
    table: OfflineTable,
    path: str,
    start: datetime,
    end: datetime,
    target: OnlineTarget,
    batch_rows: int,
    available_at: datetime,
    session: SparkSession | None = None,
) -> tuple[int, int]:
    """Write every entity's latest row in ``[start, end)`` written by ``available_at`` from the executors; (rows, applied)."""
    if session is None:
        from mlplat.offline.spark_engine import local_session  # noqa: PLC0415 - on EMR the session exists already

        session = SparkSession.getActiveSession() or local_session()
    frame = latest_frame(session, table, path, start, end, available_at)
    counts = frame.rdd.mapPartitions(partition_writer(catalog.to_snapshot(), table, target, batch_rows)).collect()
    return sum(c[0] for c in counts), sum(c[1] for c in counts)
