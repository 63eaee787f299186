"""Materialization: the latest value per entity of a view, copied from its source into the online store.

A run covers the window ``[start, end)`` of event times and writes, for every entity
with a row in it, that entity's latest row (ties to the latest ``created`` timestamp).
Incremental runs start where the view's watermark in the registry left off, minus the
view's ``materialization.lateness`` so rows that arrived late are picked up. Rerunning
is always safe: the online store never lets an older event overwrite a newer one and
an equal event time overwrites with the same bytes, so a window written twice, or
written again after a crash, leaves the store as one clean run does. The watermark
only moves forward, and only after every row of the window is written.

Reruns after a failure or a kill pick up where the last run stopped: a view already
materialized up to the run's end is skipped (the result says so), the others run, and
a run left ``running`` by a process that died is marked ``failed``
(:mod:`mlplat.offline.run_lease`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from mlplat.catalog import Catalog
from mlplat.errors import UsageError
from mlplat.offline.engine import DEFAULT_BATCH_ROWS, Engine
from mlplat.offline.run_lease import Heartbeat, LeasePolicy, fail_dead_runs, this_owner
from mlplat.offline.sources import OfflineTable, offline_table, resolve_uri
from mlplat.online_store import DEFAULT_NAMESPACE, OnlineStore, Row, open_store
from mlplat.registry import Registry

#: Rows handed to the online store per write call.
Progress = Callable[[int, int], None]
"""Called after each written batch with (rows written so far, rows in the window)."""


@dataclass(frozen=True)
class Window:
    """Event times ``[start, end)`` a run reads, and whether finishing it may move the watermark to ``end``."""

    start: datetime
    end: datetime
    advances_watermark: bool


@dataclass(frozen=True)
class MaterializationResult:
    """What one run of one view did."""

    view: str
    run_id: int | None
    """``None`` when the view was skipped."""
    window: Window
    rows: int
    """Entities whose latest row in the window was written."""
    applied: int
    """Of those, rows the store took (the others were older than what it held)."""
    watermark: datetime | None
    skipped: str | None = None
    """Why nothing ran (the view was already materialized up to the window's end), or ``None``."""
    failed_runs: tuple[int, ...] = ()
    """Earlier runs of the view found dead (left ``running``) and marked failed before this one."""


def plan_window(
    *,
    watermark: datetime | None,
    lateness: timedelta | None,
    ttl: timedelta,
    now: datetime,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Window:
    """The window of one run.

    * ``end`` left out: ``now``.
    * ``start`` left out (incremental): the watermark minus the view's lateness; with no
      watermark yet, ``end - ttl`` (older values would be served as stale anyway).
    * An explicit ``start`` (a backfill) moves the watermark only when it does not leave
      a gap after it: when no watermark exists or ``start`` is at or before it.
    """
    end = end or now
    if start is None:
        start = end - ttl if watermark is None else watermark - (lateness or timedelta(0))
        advances = True
    else:
        advances = watermark is None or start <= watermark
    for name, value in (("start", start), ("end", end)):
        if value.tzinfo is None:
            raise UsageError(f"materialization {name} {value.isoformat()} has no time zone; give it in UTC (…Z)")
    if start >= end:
        raise UsageError(
            f"materialization window is empty: start {start.isoformat()} is not before end {end.isoformat()}"
        )
    return Window(start.astimezone(UTC), end.astimezone(UTC), advances)


def already_done(*, watermark: datetime | None, start: datetime | None, end: datetime) -> bool:
    """Whether an incremental run up to ``end`` has nothing to do: the watermark is at or past it.

    A backfill (an explicit ``start``) always runs: it was asked for.
    """
    return start is None and watermark is not None and watermark >= end


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _column_values(column: pa.Array) -> list[object]:
    """Python values of ``column``; timestamps as aware UTC datetimes, built from integers (fast)."""
    if pa.types.is_timestamp(column.type):
        micros = column.cast(pa.timestamp("us")).cast(pa.int64()).to_pylist()
        return [None if m is None else EPOCH + timedelta(microseconds=m) for m in micros]
    return list(column.to_pylist())


def rows_from_batch(batch: pa.RecordBatch, table: OfflineTable) -> list[Row]:
    """Online-store rows of one batch of a view's source (keys, event time, features)."""
    keys = zip(*(batch.column(name).to_pylist() for name in table.key_columns), strict=True)
    times = _column_values(batch.column(table.timestamp_field))
    names = table.feature_names
    values = zip(*(_column_values(batch.column(name)) for name in names), strict=True)
    return [
        Row(key, moment, dict(zip(names, row, strict=True)))  # type: ignore[arg-type]
        for key, moment, row in zip(keys, times, values, strict=True)
    ]


def materializable_views(catalog: Catalog, view: str | None = None) -> list[str]:
    """``[view]`` after checking it is online, or every online view in name order."""
    if view is not None:
        if not catalog.feature_view(view).spec.online:
            raise UsageError(f"feature view {view!r} is not online (spec.online: false); nothing to materialize")
        return [view]
    return [name for name, fv in catalog.feature_views.items() if fv.spec.online]


@dataclass(frozen=True)
class OnlineTarget:
    """Which online store a run writes to; executors of the Spark engine open it themselves."""

    url: str
    """``redis://``, ``rediss://`` or ``sqlite:///`` (see :func:`mlplat.online_store.open_store`)."""
    namespace: str = DEFAULT_NAMESPACE
    password: str | None = field(default=None, repr=False)
    """Redis AUTH token (kept out of ``repr``, so out of logs). Left out: the URL's password, if any."""
    timeout: float = 30.0
    """Seconds one write batch may take; far above serving's budget since batches are large."""

    def open(self, catalog: Catalog) -> OnlineStore:
        return open_store(self.url, catalog, namespace=self.namespace, timeout=self.timeout, password=self.password)


@dataclass(frozen=True)
class MaterializeOptions:
    """What a run reads and how."""

    data_root: Path | str
    """Offline root of the sources' relative paths (a directory or an ``s3://`` prefix)."""
    engine: Engine = Engine.DUCKDB
    batch_rows: int = DEFAULT_BATCH_ROWS
    start: datetime | None = None
    """Left out: incremental from the watermark."""
    end: datetime | None = None
    """Left out: now."""
    lease: LeasePolicy = field(default_factory=LeasePolicy)
    """Heartbeat interval and lease of runs (see :mod:`mlplat.offline.run_lease`)."""

    def __post_init__(self) -> None:
        if self.batch_rows < 1:
            raise UsageError(
                f"batch rows is {self.batch_rows}; write at least 1 row per batch (default {DEFAULT_BATCH_ROWS})"
            )


def _write_embedded(
    catalog: Catalog,
    table: OfflineTable,
    path: str,
    window: Window,
    target: OnlineTarget,
    options: MaterializeOptions,
    now: datetime,
    progress: Progress | None,
) -> tuple[int, int]:
    from mlplat.offline.duckdb_engine import latest_rows  # noqa: PLC0415 - keeps engines symmetrical

    total, batches = latest_rows(table, path, window.start, window.end, options.batch_rows, now)
    store = target.open(catalog)
    written = applied = 0
    try:
        for batch in batches:
            rows = rows_from_batch(batch, table)
            applied += store.write(table.view, rows)
            written += len(rows)
            if progress is not None:
                progress(written, total)
    finally:
        store.close()
    return written, applied


def _write_spark(
    catalog: Catalog,
    table: OfflineTable,
    path: str,
    window: Window,
    target: OnlineTarget,
    options: MaterializeOptions,
    now: datetime,
    progress: Progress | None,
) -> tuple[int, int]:
    from mlplat.offline.spark_materialize import write_latest  # noqa: PLC0415 - pyspark only when chosen

    written, applied = write_latest(catalog, table, path, window.start, window.end, target, options.batch_rows, now)
    if progress is not None:
        progress(written, written)
    return written, applied


def materialize_view(
    catalog: Catalog,
    view: str,
    target: OnlineTarget,
    registry: Registry,
    options: MaterializeOptions,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> MaterializationResult:
    """Materialize one view's window into the store, recording the run and moving the watermark.

    Rows count as of ``now`` (their created time at or before it, :mod:`mlplat.point_in_time`).
    """
    now = now or datetime.now(UTC)
    spec = catalog.feature_view(view).spec
    table = offline_table(catalog, view)
    failed = tuple(run_id for run_id, _ in fail_dead_runs(registry, view, now, options.lease))
    watermark = registry.watermark(view)
    if already_done(watermark=watermark, start=options.start, end=options.end or now):
        assert watermark is not None
        end = (options.end or now).astimezone(UTC)
        reason = f"already materialized up to {watermark.isoformat()} (the watermark), at or past the end"
        return MaterializationResult(view, None, Window(end, end, False), 0, 0, watermark, reason, failed)
    window = plan_window(
        watermark=watermark,
        lateness=spec.materialization.lateness if spec.materialization else None,
        ttl=spec.ttl,
        now=now,
        start=options.start,
        end=options.end,
    )
    run_id = registry.start_run(view, window.start, window.end, options.engine.value, owner=this_owner())
    write = _write_spark if options.engine is Engine.SPARK else _write_embedded
    path = resolve_uri(options.data_root, table.uri)
    try:
        with Heartbeat(registry, run_id, options.lease):
            written, applied = write(catalog, table, path, window, target, options, now, progress)
    except BaseException as error:
        # record why (even for Ctrl-C), then let it end the run; the watermark stays put
        registry.fail_run(run_id, f"{type(error).__name__}: {error}")
        raise
    registry.finish_run(run_id, written)
    watermark = registry.advance_watermark(view, window.end) if window.advances_watermark else registry.watermark(view)
    return MaterializationResult(view, run_id, window, written, applied, watermark, None, failed)


def materialize(
    catalog: Catalog,
    views: Sequence[str],
    target: OnlineTarget,
    registry: Registry,
    options: MaterializeOptions,
    *,
    progress: Mapping[str, Progress] | None = None,
) -> list[MaterializationResult]:
    """Materialize ``views`` one after another with one ``now``, so their windows line up."""
    now = datetime.now(UTC)
    return [
        materialize_view(catalog, view, target, registry, options, now=now, progress=(progress or {}).get(view))
        for view in views
    ]
