"""Point-in-time-correct training sets.

For each label row and each requested view, the joined values are those of the view's
latest row whose event time is at or before the label's event time and within the
view's ttl (``label_ts - ttl < event_ts <= label_ts``). Rows with the same event time
are decided by the created timestamp: the latest write wins. No value from after the
label's event time can appear; a value ``ttl`` old or older is null.

Availability and freshness follow :mod:`mlplat.point_in_time`: with ``availability:
written`` (the default) a row also counts only from its created timestamp on.

Two engines compute the same table: DuckDB on one machine, Spark for EMR. Both get the
labels through :func:`normalize_labels`, so they accept the same inputs: timestamps of any
unit (s, ms, µs, ns; ns are floored to the µs the sources use), with a zone or naive
(naive values are UTC).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlplat.catalog import Catalog
from mlplat.errors import UsageError
from mlplat.offline.engine import Engine
from mlplat.offline.sources import TIMESTAMP, OfflineTable, arrow_type, offline_table, resolve_uri
from mlplat.spec.kinds import REQUEST_VIEW

ROW_ID = "__row"


@dataclass(frozen=True)
class ViewJoin:
    """One view to join: where its rows are, which features, and how its keys appear in the labels."""

    table: OfflineTable
    path: str
    features: tuple[str, ...]
    label_keys: tuple[str, ...]
    """Label columns matching ``table.key_columns``, in the same order."""


@dataclass(frozen=True)
class TrainingSetPlan:
    """What a training set joins: pure data, so both engines read the same plan."""

    timestamp_field: str
    views: tuple[ViewJoin, ...]
    schema: pa.Schema
    """The output: the label columns, then each requested feature in request order."""


_MICROS_PER = {"s": 1_000_000, "ms": 1_000, "us": 1}


def _as_utc_micros(column: pa.ChunkedArray, unit: str) -> pa.Array:
    """A timestamp column as ``timestamp[us, UTC]``: Arrow holds epoch values whatever the zone, so only the unit changes."""
    raw = pc.cast(column.cast(pa.timestamp(unit)), pa.int64()).combine_chunks()
    values = raw.fill_null(0).to_numpy()
    micros = np.floor_divide(values, 1000) if unit == "ns" else values * _MICROS_PER[unit]
    return pa.array(micros, pa.int64(), mask=raw.is_null().to_numpy(zero_copy_only=False)).cast(TIMESTAMP)


def normalize_labels(labels: pa.Table) -> pa.Table:
    """``labels`` with every timestamp column as microseconds in UTC, as both engines read them.

    Naive timestamps are UTC (what pandas writes for a naive ``datetime64``); zoned ones
    keep their instant. Nanoseconds are floored to the microsecond: a row at or before a
    label stays at or before it, since sources hold microseconds.
    """
    columns = [
        _as_utc_micros(column, field.type.unit)
        if pa.types.is_timestamp(field.type) and field.type != TIMESTAMP
        else column
        for field, column in zip(labels.schema, labels.columns, strict=True)
    ]
    return pa.Table.from_arrays(columns, names=labels.schema.names)


def plan_training_set(
    catalog: Catalog, labels_schema: pa.Schema, features: Sequence[str], root: Path | str, timestamp_field: str
) -> TrainingSetPlan:
    """Check the request against the catalog and the labels, and say what to join."""
    if timestamp_field not in labels_schema.names:
        raise UsageError(f"labels have no {timestamp_field!r} column; they have {', '.join(labels_schema.names)}")
    kind = labels_schema.field(timestamp_field).type
    if not pa.types.is_timestamp(kind):
        raise UsageError(
            f"labels' {timestamp_field!r} column is {kind}; write it as a parquet timestamp (any unit, naive = UTC)"
        )
    chosen: dict[str, list[str]] = {}
    for ref in features:
        view, _, name = ref.partition(":")
        if view == REQUEST_VIEW:
            if name not in labels_schema.names:
                raise UsageError(f"request value {ref!r} is not a column of the labels; add a {name!r} column")
            continue
        catalog.feature(ref)
        chosen.setdefault(view, []).append(name)
    fields = list(labels_schema)
    joins = []
    for view, names in chosen.items():
        table = offline_table(catalog, view)
        label_keys = tuple(key.request_key for key in catalog.join_keys(view))
        missing = [key for key in label_keys if key not in labels_schema.names]
        if missing:
            raise UsageError(f"labels lack the key column(s) {', '.join(missing)} that view {view!r} is joined on")
        dtypes = dict(table.features)
        for name in names:
            if name in labels_schema.names:
                raise UsageError(
                    f"feature {view}:{name} would overwrite the labels' own {name!r} column; rename that label column"
                )
            if name in (f.name for f in fields):
                raise UsageError(
                    f"feature {view}:{name} has the name of another requested feature; "
                    "columns are named by feature, so request only one of them"
                )
            fields.append(pa.field(name, arrow_type(dtypes[name])))
        joins.append(ViewJoin(table, resolve_uri(root, table.uri), tuple(names), label_keys))
    return TrainingSetPlan(timestamp_field, tuple(joins), pa.schema(fields))


def build_training_set(
    catalog: Catalog,
    labels: pa.Table,
    features: Sequence[str],
    root: Path | str,
    *,
    engine: Engine = Engine.DUCKDB,
    timestamp_field: str = "event_timestamp",
) -> pa.Table:
    """The labels, in their order, with each ``view:feature`` joined as of the label's event time.

    ``request:<name>`` references are checked to be label columns and kept as they are.
    """
    labels = normalize_labels(labels)
    plan = plan_training_set(catalog, labels.schema, features, root, timestamp_field)
    if engine is Engine.SPARK:
        from mlplat.offline.spark_engine import spark_training_set  # noqa: PLC0415 - pyspark is heavy, load it on use

        return spark_training_set(plan, labels)
    from mlplat.offline.duckdb_engine import duckdb_training_set  # noqa: PLC0415 - keeps engines symmetrical

    return duckdb_training_set(plan, labels)
