"""``POST /push``: rows for the online store, checked against the declared dtypes.

Request (Feast's shape; ``view`` may name one view instead of a push source)::

    {"push_source_name": "application_push" | "view": "application_velocity",
     "df": {"applicant_id": ["a1"], "event_timestamp": ["2026-05-13T10:59:42Z"],
            "applications_24h": [3]},
     "to": "online"}

A push source writes every online view reading from it. ``df`` holds columns of equal
length: the views' join-key columns, the event-time column and features; a feature
left out is written as null. JSON has no bytes or timestamps: ``bytes`` features take
base64 strings, ``timestamp`` features and event times take ISO 8601 strings (no zone
means UTC) or seconds since the epoch.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from mlplat.catalog import Catalog
from mlplat.diagnostics import did_you_mean, one_of
from mlplat.errors import NotFoundError
from mlplat.online_store import Row, coerce
from mlplat.spec.kinds import FeatureView, SourceType
from mlplat.spec.types import DType, JoinKeyType
from services.feature_server.errors import BatchTooLargeError, RequestError

DEFAULT_TIMESTAMP_COLUMN = "event_timestamp"
_PUSH_FIELDS = frozenset({"push_source_name", "view", "df", "to", "allow_registry_cache"})


@dataclass(frozen=True)
class Push:
    """Rows to write into one view."""

    view: str
    rows: tuple[Row, ...]


def parse_push(body: object, catalog: Catalog, max_rows: int) -> list[Push]:
    """The rows of a push body for each view it writes; errors name the field and row."""
    if not isinstance(body, dict):
        raise RequestError("body", "must be a JSON object")
    unknown = sorted(set(body) - _PUSH_FIELDS)
    if unknown:
        raise RequestError(unknown[0], f"is not a field of this request; use {one_of(sorted(_PUSH_FIELDS))}")
    to = body.get("to", "online")
    if to != "online":
        raise RequestError("to", f"{to!r} is not supported; this server writes the online store only ('online')")
    views = _target_views(catalog, body)
    frame = body.get("df")
    if not isinstance(frame, dict) or not frame:
        raise RequestError("df", "must be an object mapping column names to lists of values")
    rows = _row_count(frame, max_rows)
    timestamp_column = _timestamp_column(catalog, views[0])
    known = {timestamp_column} | _created_columns(catalog, views)
    for view in views:
        known.update(k.column for k in catalog.join_keys(view.metadata.name))
        known.update(f.name for f in view.spec.features)
    for column in frame:
        if column not in known:
            raise RequestError(f"df.{column}", f"is not a column of {_names(views)}; expected {one_of(sorted(known))}")
    times = _event_times(frame, timestamp_column, rows)
    return [Push(view.metadata.name, _view_rows(catalog, view, frame, times, rows)) for view in views]


def _names(views: Sequence[FeatureView]) -> str:
    return ", ".join(repr(v.metadata.name) for v in views)


def _target_views(catalog: Catalog, body: Mapping[str, object]) -> list[FeatureView]:
    source, view = body.get("push_source_name"), body.get("view")
    if (source is None) == (view is None):
        raise RequestError("push_source_name", "give either 'push_source_name' or 'view'")
    if view is not None:
        if not isinstance(view, str):
            raise RequestError("view", f"must be a string; got {type(view).__name__}")
        found = catalog.feature_view(view)
        if not found.spec.online:
            raise NotFoundError(f"feature view {view!r} is not online; pushes write online views only")
        return [found]
    if not isinstance(source, str):
        raise RequestError("push_source_name", f"must be a string; got {type(source).__name__}")
    push_sources = [name for name, s in catalog.sources.items() if s.spec.type is SourceType.PUSH]
    if source not in push_sources:
        raise NotFoundError(
            f"push source {source!r} does not exist; defined: {one_of(push_sources)}{did_you_mean(source, push_sources)}"
        )
    views = [v for v in catalog.feature_views.values() if v.spec.source == source and v.spec.online]
    if not views:
        raise NotFoundError(f"push source {source!r} feeds no online feature view")
    return views


def _timestamp_column(catalog: Catalog, view: FeatureView) -> str:
    source = catalog.sources[view.spec.source].spec
    if source.timestamp_field is None and source.batch_source is not None and source.batch_source in catalog.sources:
        source = catalog.sources[source.batch_source].spec
    return source.timestamp_field or DEFAULT_TIMESTAMP_COLUMN


def _created_columns(catalog: Catalog, views: Sequence[FeatureView]) -> set[str]:
    columns = {"created"}  # Feast's examples send it; the online store does not keep it
    for view in views:
        source = catalog.sources[view.spec.source].spec
        batch = catalog.sources.get(source.batch_source or "")
        for spec in (source, batch.spec if batch else None):
            if spec is not None and spec.created_timestamp_field:
                columns.add(spec.created_timestamp_field)
    return columns


def _row_count(frame: Mapping[str, object], max_rows: int) -> int:
    rows = -1
    for column, values in frame.items():
        if not isinstance(values, list):
            raise RequestError(f"df.{column}", "must be a list of values")
        if rows not in (-1, len(values)):
            raise RequestError(f"df.{column}", f"has {len(values)} values; every column needs the same count ({rows})")
        rows = len(values)
    if rows == 0:
        raise RequestError("df", "has no rows")
    if rows > max_rows:
        raise BatchTooLargeError(f"df: {rows} rows; at most {max_rows} per push")
    return rows


def _event_times(frame: Mapping[str, list[object]], column: str, rows: int) -> list[datetime]:
    values = frame.get(column)
    if values is None:
        raise RequestError(f"df.{column}", "is missing: every row needs its event time")
    times = []
    for i, value in enumerate(values):
        if value is None:
            raise RequestError(f"df.{column}[{i}]", "is null: every row needs its event time")
        times.append(_timestamp(f"df.{column}[{i}]", value))
    return times


def _timestamp(field: str, value: object) -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if not isinstance(value, str):
        raise RequestError(field, f"must be an ISO 8601 string or seconds since the epoch; got {value!r}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise RequestError(field, f"{value!r} is not an ISO 8601 time (e.g. '2026-05-13T10:59:42Z')") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _view_rows(
    catalog: Catalog, view: FeatureView, frame: Mapping[str, list[object]], times: list[datetime], rows: int
) -> tuple[Row, ...]:
    keys = catalog.join_keys(view.metadata.name)
    for join_key in keys:
        if join_key.column not in frame:
            raise RequestError(
                f"df.{join_key.column}", f"is missing: it is the join key of view {view.metadata.name!r}"
            )
    features = [(f.name, f.dtype) for f in view.spec.features if f.name in frame]
    out = []
    for i in range(rows):
        key = tuple(_key_value(f"df.{k.column}[{i}]", k.type, frame[k.column][i]) for k in keys)
        values = {name: _feature_value(f"df.{name}[{i}]", dtype, frame[name][i]) for name, dtype in features}
        out.append(Row(key, times[i], values))
    return tuple(out)


def _key_value(field: str, key_type: JoinKeyType, value: object) -> str | int:
    if key_type is JoinKeyType.INT64:
        if type(value) is not int:
            raise RequestError(field, f"must be an integer; got {value!r}")
        return value
    if type(value) is not str:
        raise RequestError(field, f"must be a string; got {value!r}")
    return value


def _feature_value(field: str, dtype: DType, value: object) -> object:
    if value is None:
        return None
    if dtype is DType.BYTES:
        if not isinstance(value, str):
            raise RequestError(field, f"bytes are sent as base64 strings; got {value!r}")
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error:
            raise RequestError(field, f"{value!r} is not base64") from None
    if dtype is DType.TIMESTAMP:
        return _timestamp(field, value)
    try:
        return coerce(dtype, value)
    except ValueError as error:
        raise RequestError(field, f"{dtype.value} expected: {error}") from None
