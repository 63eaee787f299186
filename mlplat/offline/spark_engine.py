"""The Spark offline engine: the same point-in-time rule as DuckDB, for data beyond one machine.

Runs on EMR Serverless (Spark 3.5) and in local mode in tests. Timestamps travel as
microseconds since the epoch so that no Python- or JVM-local time zone can shift them.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F  # noqa: N812 - the name every Spark reader knows

from mlplat.offline.training_set import ROW_ID, TrainingSetPlan, ViewJoin


def local_session(app_name: str = "mlplat", cores: int = 2) -> SparkSession:
    """A small local Spark for tests and one-machine runs: UTC, no UI, few shuffle partitions."""
    # Python workers run this interpreter (unless told otherwise), so they import the same mlplat and libraries.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return (
        SparkSession.builder.master(f"local[{cores}]")
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(cores * 2))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.execution.arrow.pyspark.enabled", "false")
        .getOrCreate()
    )


def _newest_first(event: str, created: str | None) -> list[Column]:
    """The order that picks a label's row: latest event time, ties to the latest write."""
    order = [F.col(event).desc()]
    if created is not None:
        order.append(F.col(created).desc_nulls_last())
    return order


def view_values(session: SparkSession, labels: DataFrame, view: ViewJoin, timestamp: str) -> DataFrame:
    """Per label row id, the view's features as of the label's event time (nulls when none is fresh).

    The rules are :mod:`mlplat.point_in_time`'s, as in the DuckDB engine: the row's event
    time (and, with ``availability: written``, its created time) at or before the
    label's, and age below the ttl.
    """
    table = view.table
    tie_break = table.available_field or table.created_timestamp_field
    source = session.read.parquet(view.path)
    rows = source.select(
        *[F.col(k).alias(f"__k{i}") for i, k in enumerate(table.key_columns)],
        F.unix_micros(F.col(table.timestamp_field)).alias("__ts"),
        *([F.unix_micros(F.col(tie_break)).alias("__created")] if tie_break else []),
        *[F.col(f).alias(f"__f_{f}") for f in view.features],
    )
    label_ts = F.unix_micros(labels[timestamp])
    ttl_micros = int(table.ttl.total_seconds() * 1_000_000)
    condition = [labels[label] == rows[f"__k{i}"] for i, label in enumerate(view.label_keys)]
    condition.append(rows["__ts"] <= label_ts)
    condition.append(rows["__ts"] > label_ts - F.lit(ttl_micros))  # fresh while age < ttl
    if table.available_field is not None:
        condition.append(rows["__created"].isNull() | (rows["__created"] <= label_ts))
    joined = labels.select(ROW_ID, *view.label_keys, timestamp).join(rows, on=condition, how="inner")
    newest = Window.partitionBy(ROW_ID).orderBy(*_newest_first("__ts", "__created" if tie_break else None))
    picked = joined.withColumn("__n", F.row_number().over(newest)).where(F.col("__n") == 1)
    return picked.select(ROW_ID, *[F.col(f"__f_{f}").alias(f) for f in view.features])


def _as_micros(frame: DataFrame, schema: pa.Schema) -> DataFrame:
    columns = []
    for field in schema:
        column = F.col(field.name)
        columns.append(F.unix_micros(column).alias(field.name) if pa.types.is_timestamp(field.type) else column)
    return frame.select(*columns)


def _to_arrow(rows: list[Any], schema: pa.Schema) -> pa.Table:
    names = schema.names
    arrays = []
    for index, field in enumerate(schema):
        values = [row[index] for row in rows]
        if pa.types.is_timestamp(field.type):
            arrays.append(pa.array(values, pa.int64()).cast(field.type))
        else:
            arrays.append(pa.array(values, field.type))
    return pa.Table.from_arrays(arrays, names=names)


def spark_training_set(plan: TrainingSetPlan, labels: pa.Table, session: SparkSession | None = None) -> pa.Table:
    """Run ``plan`` over ``labels`` in Spark; the same table :func:`duckdb_training_set` returns."""
    session = session or local_session()
    numbered = labels.append_column(ROW_ID, pa.array(range(labels.num_rows), pa.int64()))
    with tempfile.TemporaryDirectory(prefix="mlplat-labels-") as scratch:
        path = Path(scratch) / "labels.parquet"
        pq.write_table(numbered, path)
        frame = session.read.parquet(str(path)).cache()
        result = frame
        for view in plan.views:
            result = result.join(view_values(session, frame, view, plan.timestamp_field), on=ROW_ID, how="left")
        rows = _as_micros(result.orderBy(ROW_ID), plan.schema).collect()
        frame.unpersist()
    return _to_arrow(rows, plan.schema)
