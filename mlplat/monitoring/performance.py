"""Realized performance: decisions joined to their outcomes once the label window has passed.

Point in time, no peeking: an outcome counts only if it was recorded by the report's
as-of time. The recorded time is the label source's ``createdTimestampField`` when it
declares one, else the earliest moment the outcome can be known, its event time plus
the model's ``training.labelWindow``. A decision counts once its own label window has
passed by the as-of time. Outcomes are joined by decision id: the label source's
``decision_id`` column. A corrected outcome (several rows of one decision) counts as
its latest row recorded by the as-of time.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from mlplat.catalog import Catalog
from mlplat.errors import UsageError
from mlplat.monitoring.aggregates import MaturedRow, OutcomeQuery, OutcomeRow
from mlplat.offline.sources import batch_source, resolve_uri
from mlplat.spec.types import format_duration

DECISION_ID = "decision_id"


@dataclass(frozen=True)
class Band:
    """Decisions of one score band (the reference score's decile bins) and their bad rate."""

    label: str
    count: int
    bad_rate: float | None


@dataclass(frozen=True)
class MonthPerformance:
    """One decision month: how many decisions matured, how many have an outcome, and how well the score ranked them."""

    month: str
    matured: int
    with_outcome: int
    bad_rate: float | None
    auc: float | None
    ks: float | None
    bands: tuple[Band, ...]


@dataclass(frozen=True)
class Performance:
    """Realized performance, or why there is none yet."""

    label: str
    label_window: timedelta
    months: tuple[MonthPerformance, ...]
    note: str | None = None


@dataclass(frozen=True)
class OutcomeSource:
    """Where a model's outcomes are and how to read them point in time."""

    path: str
    label: str
    label_window: timedelta
    time_field: str
    recorded_field: str | None

    @classmethod
    def of(cls, catalog: Catalog, model: str, data_root: Path | str) -> OutcomeSource | None:
        training = catalog.model(model).spec.training
        if training is None:
            return None
        source = batch_source(catalog, training.label_source)
        assert source.spec.path is not None
        window = training.label_window or timedelta(0)
        path = resolve_uri(data_root, source.spec.path)
        return cls(
            path,
            training.label,
            window,
            source.spec.timestamp_field or "event_timestamp",
            source.spec.created_timestamp_field,
        )

    def query(self, as_of: datetime, since: datetime) -> OutcomeQuery:
        """What an engine counts: decisions from ``since`` matured by ``as_of``, outcomes recorded by it."""
        matured_by = as_of - self.label_window
        return OutcomeQuery(
            path=self.path,
            label=self.label,
            time_field=self.time_field,
            recorded_field=self.recorded_field,
            label_window=self.label_window,
            since=since,
            matured_by=matured_by,
            as_of=as_of,
        )


def band_labels(edges: Sequence[float]) -> tuple[str, ...]:
    """Readable names of the ``len(edges) + 1`` score bands."""
    if not edges:
        return ("all",)
    inner = [f"{a:.3f}-{b:.3f}" for a, b in itertools.pairwise(edges)]
    return (f"<= {edges[0]:.3f}", *inner, f"> {edges[-1]:.3f}")


def _schema_names(path: str) -> list[str] | None:
    """The parquet file's column names, or ``None`` when it does not exist (a local path or an ``s3://`` URI)."""
    filesystem, inner = pafs.FileSystem.from_uri(path) if "://" in path else (pafs.LocalFileSystem(), path)
    if filesystem.get_file_info(inner).type != pafs.FileType.File:
        return None
    return list(pq.read_schema(inner, filesystem=filesystem).names)


def outcome_gap(source: OutcomeSource) -> str | None:
    """Why the label source cannot give realized performance (yet), or ``None`` when it can.

    Raises when the source declares a recorded-time field its file lacks: a spec error.
    """
    names = _schema_names(source.path)
    if names is None:
        return f"no outcomes yet: {source.path} does not exist"
    if source.recorded_field and source.recorded_field not in names:
        raise UsageError(
            f"{source.path} has no column {source.recorded_field!r}, the label source's createdTimestampField"
        )
    if DECISION_ID not in names or source.label not in names:
        return (
            f"{source.path} has no {DECISION_ID!r} and {source.label!r} columns; outcomes are joined to decisions "
            "by decision id"
        )
    return None


def auc_of_counts(bads: np.ndarray, goods: np.ndarray) -> float:
    """AUC (Mann-Whitney, ties counting half) from bads and goods per distinct score, in ascending score order.

    Exact: the numerator is an integer sum. 0.5 when only one class is present.
    """
    positives, negatives = int(bads.sum()), int(goods.sum())
    if positives == 0 or negatives == 0:
        return 0.5
    below = np.concatenate(([0], np.cumsum(goods)[:-1])).astype(np.int64)
    twice = int(np.sum(bads.astype(np.int64) * (2 * below + goods.astype(np.int64))))
    return twice / (2 * positives * negatives)


def ks_of_counts(bads: np.ndarray, goods: np.ndarray) -> float:
    """KS (widest gap between the bads' and goods' score CDFs) from counts per distinct score, ascending."""
    positives, negatives = int(bads.sum()), int(goods.sum())
    if positives == 0 or negatives == 0:
        return 0.0
    return float(np.max(np.abs(np.cumsum(bads) / positives - np.cumsum(goods) / negatives)))


def realized_performance(
    source: OutcomeSource,
    matured: Sequence[MaturedRow],
    outcomes: Sequence[OutcomeRow],
    score_edges: Sequence[float],
) -> Performance:
    """AUC, KS and bad rate by score band per decision month, from an engine's counts."""
    by_month: dict[str, list[OutcomeRow]] = {}
    for row in outcomes:
        by_month.setdefault(row[0], []).append(row)
    found = tuple(_month(month, count, by_month.get(month, []), score_edges) for month, count in sorted(matured))
    note = None if found else f"no decision has matured yet: the label window is {format_duration(source.label_window)}"
    return Performance(source.label, source.label_window, found, note)


def _month(month: str, matured: int, rows: list[OutcomeRow], edges: Sequence[float]) -> MonthPerformance:
    if not rows:
        return MonthPerformance(month, matured, 0, None, None, None, ())
    rows = sorted(rows, key=lambda row: row[1])
    scores = np.array([score for _, score, _, _ in rows], dtype=np.float64)
    bads = np.array([b for *_, b, _ in rows], dtype=np.int64)
    goods = np.array([g for *_, g in rows], dtype=np.int64)
    counts = bads + goods
    index = np.searchsorted(np.asarray(edges, dtype=np.float64), scores, side="left")
    band_counts = np.bincount(index, weights=counts, minlength=len(edges) + 1)
    band_bads = np.bincount(index, weights=bads, minlength=len(edges) + 1)
    bands = tuple(
        Band(name, int(count), None if count == 0 else float(bad / count))
        for name, count, bad in zip(band_labels(edges), band_counts, band_bads, strict=True)
    )
    known = int(counts.sum())
    return MonthPerformance(
        month, matured, known, int(bads.sum()) / known, auc_of_counts(bads, goods), ks_of_counts(bads, goods), bands
    )
