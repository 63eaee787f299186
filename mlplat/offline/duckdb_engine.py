"""The embedded offline engine: DuckDB over the parquet sources."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import duckdb
import pyarrow as pa

from mlplat.offline.sources import OfflineTable
from mlplat.offline.training_set import ROW_ID, TrainingSetPlan, ViewJoin


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that reads and returns timestamps in UTC."""
    connection = duckdb.connect(":memory:")
    connection.execute("SET TimeZone = 'UTC'")
    return connection


def quote(name: str) -> str:
    """``name`` as a DuckDB identifier (spec names are already safe; this keeps SQL honest)."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """``text`` as a DuckDB string literal."""
    return "'" + text.replace("'", "''") + "'"


def latest_per_event_sql(view: ViewJoin, columns: list[str]) -> str:
    """One row per (key, event time): the latest write, so restated rows replace the originals."""
    table = view.table
    keys = ", ".join(quote(k) for k in table.key_columns)
    created = f"{quote(table.created_timestamp_field)} DESC NULLS LAST" if table.created_timestamp_field else "1"
    return (
        # identifiers are validated spec names, quoted; the path is a quoted literal
        f"SELECT {', '.join(columns)} FROM read_parquet({literal(view.path)}) "  # noqa: S608
        f"QUALIFY row_number() OVER (PARTITION BY {keys}, {quote(table.timestamp_field)} ORDER BY {created}) = 1"
    )


def _ttl_micros(view: ViewJoin) -> int:
    return int(view.table.ttl.total_seconds() * 1_000_000)


def _view_sql(index: int, view: ViewJoin, timestamp: str) -> tuple[str, str, list[str]]:
    """The CTE, the join clause and the selected columns of one view (rules: :mod:`mlplat.point_in_time`)."""
    if view.table.available_field is not None:
        return _written_view_sql(index, view, timestamp)
    alias = f"v{index}"
    table = view.table
    columns = [f"{quote(k)} AS k{i}" for i, k in enumerate(table.key_columns)]
    columns.append(f"{quote(table.timestamp_field)} AS __ts")
    columns.extend(quote(f) for f in view.features)
    cte = f"{alias} AS ({latest_per_event_sql(view, columns)})"
    on = [f"l.{quote(label)} = {alias}.k{i}" for i, label in enumerate(view.label_keys)]
    on.append(f"l.{quote(timestamp)} >= {alias}.__ts")
    join = f"ASOF LEFT JOIN {alias} ON {' AND '.join(on)}"
    # fresh while age < ttl (point_in_time.is_fresh)
    fresh = f"{alias}.__ts > l.{quote(timestamp)} - to_microseconds({_ttl_micros(view)})"
    selected = [f"CASE WHEN {fresh} THEN {alias}.{quote(f)} END AS {quote(f)}" for f in view.features]
    return cte, join, selected


def _written_view_sql(index: int, view: ViewJoin, timestamp: str) -> tuple[str, str, list[str]]:
    """A view whose rows count from when they were written: each label's latest row available at its time.

    ASOF joins take one inequality, and availability needs two (event and created at or
    before the label), so this is a range join on the keys that keeps, per label row, the
    latest event time, ties to the latest write.
    """
    alias = f"v{index}"
    table = view.table
    assert table.available_field is not None
    label_ts = f"l.{quote(timestamp)}"
    on = [f"l.{quote(label)} = r.{quote(k)}" for label, k in zip(view.label_keys, table.key_columns, strict=True)]
    event, created = f"r.{quote(table.timestamp_field)}", f"r.{quote(table.available_field)}"
    on += [
        f"{event} <= {label_ts}",
        f"({created} IS NULL OR {created} <= {label_ts})",
        f"{event} > {label_ts} - to_microseconds({_ttl_micros(view)})",  # fresh while age < ttl
    ]
    features = ", ".join(f"r.{quote(f)}" for f in view.features)
    cte = (
        f"{alias} AS (SELECT l.{ROW_ID} AS __r, {features} FROM labels l "  # noqa: S608 - quoted spec names
        f"JOIN read_parquet({literal(view.path)}) r ON {' AND '.join(on)} "
        f"QUALIFY row_number() OVER (PARTITION BY l.{ROW_ID} ORDER BY {event} DESC, {created} DESC NULLS LAST) = 1)"
    )
    join = f"LEFT JOIN {alias} ON {alias}.__r = l.{ROW_ID}"
    return cte, join, [f"{alias}.{quote(f)}" for f in view.features]


def training_set_sql(plan: TrainingSetPlan, label_columns: list[str]) -> str:
    """The whole point-in-time join as one query over the registered ``labels`` relation."""
    ctes, joins = [], []
    selected = [f"l.{quote(c)}" for c in label_columns]
    for index, view in enumerate(plan.views):
        cte, join, columns = _view_sql(index, view, plan.timestamp_field)
        ctes.append(cte)
        joins.append(join)
        selected.extend(columns)
    with_clause = f"WITH {', '.join(ctes)} " if ctes else ""
    return f"{with_clause}SELECT {', '.join(selected)} FROM labels l {' '.join(joins)} ORDER BY l.{ROW_ID}"  # noqa: S608


def duckdb_training_set(plan: TrainingSetPlan, labels: pa.Table) -> pa.Table:
    """Run ``plan`` over ``labels`` in DuckDB; the result has ``plan.schema`` and the labels' order."""
    connection = connect()
    try:
        numbered = labels.append_column(ROW_ID, pa.array(range(labels.num_rows), pa.int64()))
        connection.register("labels", numbered)
        result = connection.sql(training_set_sql(plan, labels.schema.names)).to_arrow_table()
    finally:
        connection.close()
    return result.cast(plan.schema)


def latest_rows_sql(table: OfflineTable, path: str) -> str:
    """Each entity's latest row with an event time in ``[$1, $2)`` available at ``$3``; ties to the latest write."""
    keys = ", ".join(quote(k) for k in table.key_columns)
    timestamp = quote(table.timestamp_field)
    order = f"{timestamp} DESC"
    if table.created_timestamp_field:
        order += f", {quote(table.created_timestamp_field)} DESC NULLS LAST"
    columns = ", ".join([keys, timestamp, *(quote(f) for f in table.feature_names)])
    return (
        f"SELECT {columns} FROM read_parquet({literal(path)}) "  # noqa: S608 - quoted spec names and a literal
        f"WHERE {timestamp} >= $1 AND {timestamp} < $2 {_written_by('$3', table)}"
        f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {order}) = 1"
    )


def _written_by(moment: str, table: OfflineTable) -> str:
    """The availability condition of materialization: written by ``moment`` (point_in_time.is_available)."""
    if table.available_field is None:
        return ""
    created = quote(table.available_field)
    return f"AND ({created} IS NULL OR {created} <= {moment}) "


def latest_rows(
    table: OfflineTable, path: str, start: datetime, end: datetime, batch_rows: int, available_at: datetime
) -> tuple[int, Iterator[pa.RecordBatch]]:
    """How many entities have a row in ``[start, end)`` written by ``available_at``, and their latest rows in batches."""
    connection = connect()
    parameters = [start, end, available_at] if table.available_field is not None else [start, end]
    connection.execute(f"CREATE TEMP TABLE latest AS {latest_rows_sql(table, path)}", parameters)
    total = int(connection.execute("SELECT count(*) FROM latest").fetchall()[0][0])

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from connection.sql("SELECT * FROM latest").to_arrow_reader(batch_rows)
        finally:
            connection.close()

    return total, batches()
