"""What a monitoring report is computed from: counts an engine makes of a window of decision records.

An engine (DuckDB on one machine, :mod:`mlplat.monitoring.duckdb_aggregates`; Spark for
large windows, :mod:`mlplat.monitoring.spark_aggregates`) reduces the log to the small
tables of :class:`WindowAggregates`: records per input bin and health flags, per score
bin, per version and role, per day, per period, and decisions per month and per distinct
score with their bads and goods. One set of Python functions
(:mod:`mlplat.monitoring.drift`, :mod:`mlplat.monitoring.performance`) turns those counts
into every figure of the report, so the engines share each formula and only count.
Counts are integers: the figures do not depend on the engine's summation order.

The rules both engines implement (tested against each other):

* records are the model's, with ``previous_start <= time < as_of``, each once (copies
  with the same ``id``, ``kind`` and ``version``, which at-least-once delivery makes, count
  once); ``current`` from ``current_start`` on, ``previous`` before it;
* an input's bin is the first edge ``>= value`` when its source is ``store`` or ``request``,
  else ``-1`` (missing); ``missing`` is status ``NOT_FOUND`` or a ``PRESENT`` value not
  served, ``stale`` is status ``OUTSIDE_MAX_AGE``, ``default`` is source ``default``;
  inputs count over decision and refusal records;
* a record's role is ``shadow`` for shadow records, ``canary`` when ``canary`` is true,
  else ``primary``; approvals are decisions ``approve``;
* matured decisions are decision records with ``since <= time < matured_by``; an outcome
  counts when recorded by ``as_of`` (its latest such row per decision id).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

PERIODS = ("current", "previous")

#: period, bin (-1: missing), missing, stale, default, records
InputRow = tuple[str, int, bool, bool, bool, int]
#: period, bin, records
ScoreRow = tuple[str, int, int]
#: version, role, period, records, approvals
RateRow = tuple[str, str, str, int, int]
#: day, version, role, records, approvals
DailyRow = tuple[date, str, str, int, int]
#: period, requests, decisions, refusals, errors
VolumeRow = tuple[str, int, int, int, int]
#: decision month (YYYY-MM), matured decisions
MaturedRow = tuple[str, int]
#: decision month, score, bads, goods (decisions with an outcome)
OutcomeRow = tuple[str, float, int, int]


@dataclass(frozen=True)
class OutcomeQuery:
    """Where a model's outcomes are and which decisions have matured."""

    path: str
    """The label source's parquet file (local path or ``s3://`` URI)."""
    label: str
    time_field: str
    recorded_field: str | None
    """The label source's ``createdTimestampField``; left out, an outcome is recorded at its time plus the label window."""
    label_window: timedelta
    since: datetime
    """Oldest matured decision read."""
    matured_by: datetime
    """Decisions before this have matured (``as_of - label_window``)."""
    as_of: datetime
    """Outcomes recorded after this are never used."""


@dataclass(frozen=True)
class WindowQuery:
    """One model's report window and the bins to count in."""

    model: str
    previous_start: datetime
    current_start: datetime
    as_of: datetime
    inputs: Mapping[str, tuple[float, ...]]
    """Bin edges per input ref (the reference profile's)."""
    scores: Mapping[str, tuple[float, ...]]
    """Bin edges of each profiled version's score."""
    outcomes: OutcomeQuery | None = None
    """Left out: no realized performance is counted."""


@dataclass(frozen=True)
class WindowAggregates:
    """The counts of one :class:`WindowQuery` (rows in no particular order)."""

    inputs: Mapping[str, Sequence[InputRow]]
    scores: Mapping[str, Sequence[ScoreRow]]
    rates: Sequence[RateRow]
    daily: Sequence[DailyRow]
    volumes: Sequence[VolumeRow]
    matured: Sequence[MaturedRow] = ()
    outcomes: Sequence[OutcomeRow] = ()


class Aggregator(Protocol):
    """An engine over a set of decision-log files."""

    def aggregate(self, query: WindowQuery) -> WindowAggregates: ...
