"""Point-in-time-correct training sets.

For each label row and each requested view, the joined values are those of the view's
latest row whose event time is at or before the label's event time and within the
view's ttl (``label_ts - ttl < event_ts <= label_ts``). Rows with the same event time
are decided by the created timestamp: the latest write wins. No value from after the
label's event time can appear; a value older than the ttl is null.

Two engines compute the same table: DuckDB on one machine, Spark for EMR.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from mlplat.catalog import Catalog
from mlplat.errors import UsageError
from mlplat.offline.engine import Engine
from mlplat.offline.sources import OfflineTable, arrow_type, offline_table, resolve_uri
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


def plan_training_set(
    catalog: Catalog, labels_schema: pa.Schema, features: Sequence[str], root: Path | str, timestamp_field: str
) -> TrainingSetPlan:
    """Check the request against the catalog and the labels, and say what to join."""
    if timestamp_field not in labels_schema.names:
        raise UsageError(f"labels have no {timestamp_field!r} column; they have {', '.join(labels_schema.names)}")
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
    plan = plan_training_set(catalog, labels.schema, features, root, timestamp_field)
    if engine is Engine.SPARK:
        from mlplat.offline.spark_engine import spark_training_set  # noqa: PLC0415 - pyspark is heavy, load it on use

        return spark_training_set(plan, labels)
    from mlplat.offline.duckdb_engine import duckdb_training_set  # noqa: PLC0415 - keeps engines symmetrical

    return duckdb_training_set(plan, labels)
