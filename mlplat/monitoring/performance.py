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

import duckdb
import numpy as np
import pyarrow.parquet as pq

from mlplat.catalog import Catalog
from mlplat.errors import UsageError
from mlplat.monitoring.log_scan import MATURED
from mlplat.monitoring.profile import bin_counts
from mlplat.offline.duckdb_engine import literal, quote
from mlplat.offline.sources import batch_source, resolve_uri
from mlplat.spec.types import format_duration
from mlplat.training.metrics import auc, ks

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
    def of(cls, catalog: Catalog, model: str, data_root: Path) -> OutcomeSource | None:
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


def band_labels(edges: Sequence[float]) -> tuple[str, ...]:
    """Readable names of the ``len(edges) + 1`` score bands."""
    if not edges:
        return ("all",)
    inner = [f"{a:.3f}-{b:.3f}" for a, b in itertools.pairwise(edges)]
    return (f"<= {edges[0]:.3f}", *inner, f"> {edges[-1]:.3f}")


def _outcomes_sql(source: OutcomeSource, as_of: datetime) -> str:
    recorded = (
        quote(source.recorded_field)
        if source.recorded_field
        else f"{quote(source.time_field)} + to_microseconds({int(source.label_window.total_seconds() * 1_000_000)})"
    )
    return (
        f"SELECT {quote(DECISION_ID)} AS decision_id, CAST({quote(source.label)} AS INT) AS label "  # noqa: S608
        f"FROM read_parquet({literal(source.path)}) WHERE {recorded} <= {literal(as_of.isoformat())}::TIMESTAMPTZ "
        f"QUALIFY row_number() OVER (PARTITION BY {quote(DECISION_ID)} ORDER BY {recorded} DESC) = 1"
    )


def realized_performance(
    connection: duckdb.DuckDBPyConnection, source: OutcomeSource, as_of: datetime, score_edges: Sequence[float]
) -> Performance:
    """AUC, KS and bad rate by score band per decision month of the decisions in :data:`MATURED`."""
    if not Path(source.path).is_file():
        return Performance(source.label, source.label_window, (), f"no outcomes yet: {source.path} does not exist")
    columns = pq.read_schema(source.path).names
    if DECISION_ID not in columns or source.label not in columns:
        return Performance(
            source.label,
            source.label_window,
            (),
            f"{source.path} has no {DECISION_ID!r} and {source.label!r} columns; outcomes are joined to decisions "
            "by decision id",
        )
    matured_by = as_of - source.label_window
    rows = connection.execute(
        f"SELECT strftime(d.time, '%Y-%m') AS month, d.score, o.label FROM {MATURED} d "  # noqa: S608
        f"LEFT JOIN ({_outcomes_sql(source, as_of)}) o ON o.decision_id = d.id "
        "WHERE d.kind = 'decision' AND d.time <= ? ORDER BY month",
        [matured_by],
    ).fetchall()
    months: dict[str, list[tuple[float, int | None]]] = {}
    for month, score, label in rows:
        months.setdefault(month, []).append((float(score), None if label is None else int(label)))
    found = tuple(_month(month, pairs, score_edges) for month, pairs in months.items())
    note = None if found else f"no decision has matured yet: the label window is {format_duration(source.label_window)}"
    return Performance(source.label, source.label_window, found, note)


def _month(month: str, pairs: list[tuple[float, int | None]], edges: Sequence[float]) -> MonthPerformance:
    known = [(score, label) for score, label in pairs if label is not None]
    if not known:
        return MonthPerformance(month, len(pairs), 0, None, None, None, ())
    scores = np.array([s for s, _ in known], dtype=np.float64)
    labels = np.array([y for _, y in known], dtype=np.int64)
    index = np.searchsorted(np.asarray(edges, dtype=np.float64), scores, side="left")
    counts = bin_counts(scores, edges)
    bads = np.bincount(index, weights=labels, minlength=len(edges) + 1)
    bands = tuple(
        Band(name, int(count), None if count == 0 else float(bad / count))
        for name, count, bad in zip(band_labels(edges), counts, bads, strict=True)
    )
    return MonthPerformance(
        month, len(pairs), len(known), float(labels.mean()), auc(labels, scores), ks(labels, scores), bands
    )


def check_outcome_source(source: OutcomeSource) -> None:
    """Refuse a label source whose recorded-time field is declared but missing from the file."""
    path = Path(source.path)
    if source.recorded_field and path.is_file() and source.recorded_field not in pq.read_schema(path).names:
        raise UsageError(
            f"{source.path} has no column {source.recorded_field!r}, the label source's createdTimestampField"
        )
