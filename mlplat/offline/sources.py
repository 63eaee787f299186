"""Where a feature view's offline rows live, resolved from the catalog.

A view reads a batch source directly, or a push source whose ``batchSource`` keeps the
offline history of pushed rows. Either way the offline engines need the same facts: the
parquet location, the event and created timestamp columns, the key columns and the
features with their dtypes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pyarrow as pa

from mlplat.catalog import Catalog
from mlplat.errors import UsageError
from mlplat.spec.kinds import Availability, Source, SourceType
from mlplat.spec.types import DType


@dataclass(frozen=True)
class OfflineTable:
    """The offline history of one feature view."""

    view: str
    source: str
    uri: str
    timestamp_field: str
    created_timestamp_field: str | None
    key_columns: tuple[str, ...]
    features: tuple[tuple[str, DType], ...]
    ttl: timedelta
    available_field: str | None = None
    """The created timestamp a row must also be at or before to be available (the view's
    ``availability: written``); ``None``: the event time alone decides
    (:mod:`mlplat.point_in_time`)."""

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.features)


def batch_source(catalog: Catalog, name: str) -> Source:
    """The batch source behind ``name``: itself, or the ``batchSource`` of a push source."""
    source = catalog.sources[name]
    if source.spec.type is SourceType.PUSH:
        assert source.spec.batch_source is not None  # the catalog checks push sources name one
        source = catalog.sources[source.spec.batch_source]
    return source


def offline_table(catalog: Catalog, view: str) -> OfflineTable:
    """Everything the offline engines need to read ``view``'s history."""
    spec = catalog.feature_view(view).spec
    source = batch_source(catalog, spec.source)
    if source.spec.path is None or source.spec.timestamp_field is None:
        raise UsageError(
            f"source {source.metadata.name!r} of feature view {view!r} has no path or timestampField; "
            "a batch source needs both for offline reads"
        )
    return OfflineTable(
        view=view,
        source=source.metadata.name,
        uri=source.spec.path,
        timestamp_field=source.spec.timestamp_field,
        created_timestamp_field=source.spec.created_timestamp_field,
        key_columns=tuple(key.column for key in catalog.join_keys(view)),
        features=tuple((f.name, f.dtype) for f in spec.features),
        ttl=spec.ttl,
        available_field=source.spec.created_timestamp_field if spec.availability is Availability.WRITTEN else None,
    )


def resolve_uri(root: Path | str, uri: str) -> str:
    """``uri`` itself when it is an ``s3://`` URI, else its place below the offline ``root`` (a directory or ``s3://`` prefix)."""
    if uri.startswith("s3://"):
        return uri
    if str(root).startswith("s3://"):
        return f"{str(root).rstrip('/')}/{uri}"
    return str(Path(root) / uri)


_ARROW_TYPES: dict[DType, pa.DataType] = {
    DType.BOOL: pa.bool_(),
    DType.INT32: pa.int32(),
    DType.INT64: pa.int64(),
    DType.FLOAT32: pa.float32(),
    DType.FLOAT64: pa.float64(),
    DType.STRING: pa.string(),
    DType.BYTES: pa.binary(),
    DType.TIMESTAMP: pa.timestamp("us", tz="UTC"),
}
TIMESTAMP = pa.timestamp("us", tz="UTC")


def arrow_type(dtype: DType) -> pa.DataType:
    """The Arrow type a feature of ``dtype`` is stored as in offline files."""
    return _ARROW_TYPES[dtype]
