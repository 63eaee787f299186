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
means UTC) or seconds since the epoch. Event times may be at most ``max_skew_seconds``
past the server's clock: writes are monotonic per key, so a value dated in the future
would block every honest write to its key until then.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from msgspec import UNSET

from mlplat.catalog import Catalog
from mlplat.diagnostics import did_you_mean, one_of
from mlplat.errors import NotFoundError
from mlplat.online_store import Row, coerce
from mlplat.spec.kinds import FeatureView, SourceType
from mlplat.spec.types import DType, JoinKeyType
from services.errors import BodyTooLargeError, RequestError
from services.field_types import MAX_KEY_LENGTH

DEFAULT_TIMESTAMP_COLUMN = "event_timestamp"
#: Epoch seconds a time may be given as: 0001-01-01 to 9999-12-31, what a datetime holds.
_EPOCH_RANGE = (-62135596800.0, 253402300799.0)


@dataclass(frozen=True)
class Push:
    """Rows to write into one view."""

    view: str
    rows: tuple[Row, ...]


def parse_push(body: Any, catalog: Catalog, max_rows: int, latest: datetime) -> list[Push]:
    """The rows of a push body for each view it writes; errors name the field and row.

    ``latest`` is the latest event time accepted (the server's clock plus its skew).
    """
    views = _target_views(catalog, body)
    frame = {name: column for name, column in msgspec.structs.asdict(body.df).items() if column is not UNSET}
    if not frame:
        raise RequestError("df", "has no columns")
    rows = _row_count(frame, max_rows)
    time_column = timestamp_column(catalog, views[0])
    known = {time_column} | _created_columns(catalog, views)
    for view in views:
        known.update(k.column for k in catalog.join_keys(view.metadata.name))
        known.update(f.name for f in view.spec.features)
    for column in frame:
        if column not in known:
            raise RequestError(f"df.{column}", f"is not a column of {_names(views)}; expected {one_of(sorted(known))}")
    times = _event_times(frame, time_column, latest)
    return [Push(view.metadata.name, _view_rows(catalog, view, frame, times, rows)) for view in views]


def push_columns(catalog: Catalog) -> list[str]:
    """Every column a push may carry: the online views' keys, event times and features."""
    views = [view for view in catalog.feature_views.values() if view.spec.online]
    columns = _created_columns(catalog, views)
    for view in views:
        columns.add(timestamp_column(catalog, view))
        columns.update(k.column for k in catalog.join_keys(view.metadata.name))
        columns.update(f.name for f in view.spec.features)
    return sorted(columns)


def latest_event_time(max_skew_seconds: float) -> datetime:
    """The latest event time a push may carry now."""
    return datetime.now(UTC) + timedelta(seconds=max_skew_seconds)


def _names(views: Sequence[FeatureView]) -> str:
    return ", ".join(repr(v.metadata.name) for v in views)


def _target_views(catalog: Catalog, body: Any) -> list[FeatureView]:
    source, view = body.push_source_name, body.view
    if (source is UNSET) == (view is UNSET):
        raise RequestError("push_source_name", "give either 'push_source_name' or 'view'")
    if view is not UNSET:
        found = catalog.feature_view(view)
        if not found.spec.online:
            raise NotFoundError(f"feature view {view!r} is not online; pushes write online views only")
        return [found]
    assert isinstance(source, str)
    push_sources = [name for name, s in catalog.sources.items() if s.spec.type is SourceType.PUSH]
    if source not in push_sources:
        raise NotFoundError(
            f"push source {source!r} does not exist; defined: {one_of(push_sources)}{did_you_mean(source, push_sources)}"
        )
    views = [v for v in catalog.feature_views.values() if v.spec.source == source and v.spec.online]
    if not views:
        raise NotFoundError(f"push source {source!r} feeds no online feature view")
    return views


def timestamp_column(catalog: Catalog, view: FeatureView) -> str:
    """The column a push to ``view`` carries its event times in."""
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


def _row_count(frame: Mapping[str, Sequence[object]], max_rows: int) -> int:
    rows = -1
    for column, values in frame.items():
        if rows not in (-1, len(values)):
            raise RequestError(f"df.{column}", f"has {len(values)} values; every column needs the same count ({rows})")
        rows = len(values)
    if rows == 0:
        raise RequestError("df", "has no rows")
    if rows > max_rows:
        raise BodyTooLargeError(f"df: {rows} rows; at most {max_rows} per push")
    return rows


def _event_times(frame: Mapping[str, Sequence[object]], column: str, latest: datetime) -> list[datetime]:
    values = frame.get(column)
    if values is None:
        raise RequestError(f"df.{column}", "is missing: every row needs its event time")
    times = []
    for i, value in enumerate(values):
        field = f"df.{column}[{i}]"
        if value is None:
            raise RequestError(field, "is null: every row needs its event time")
        moment = _timestamp(field, value)
        if moment > latest:
            raise RequestError(
                field,
                f"{moment.isoformat()} is later than the server's clock allows ({latest.isoformat()}); "
                "send the time the event happened (MLPLAT_MAX_PUSH_SKEW_SECONDS bounds the clock skew)",
            )
        times.append(moment)
    return times


def _timestamp(field: str, value: object) -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool):
        low, high = _EPOCH_RANGE
        if not low <= value <= high:
            raise RequestError(field, f"{value!r} seconds since the epoch is not a date between years 1 and 9999")
        return datetime.fromtimestamp(value, UTC)
    if not isinstance(value, str):
        raise RequestError(field, f"must be an ISO 8601 string or seconds since the epoch; got {value!r}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise RequestError(field, f"{value[:64]!r} is not an ISO 8601 time (e.g. '2026-05-13T10:59:42Z')") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _view_rows(
    catalog: Catalog, view: FeatureView, frame: Mapping[str, Sequence[object]], times: list[datetime], rows: int
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
    if type(value) is not str or not 0 < len(value) <= MAX_KEY_LENGTH:
        raise RequestError(field, f"must be a string of 1 to {MAX_KEY_LENGTH} characters; got {value!r}")
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
