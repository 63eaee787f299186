"""Drift, feature health, approval rates and volumes of one model's window of decisions.

Every figure is a DuckDB aggregate over :data:`mlplat.monitoring.log_scan.TABLE`, tagged
by period: ``current`` is ``[as_of - window, as_of)``, ``previous`` the window before it.
Inputs are the population's: decision and refusal records (a shadow record repeats its
decision's inputs). A value counts in the distribution when it was served (source
``store`` or ``request``); otherwise it is in the missing bin, as a null is in the
training profile.

The SQL is built from our own names, quoted literals and float literals only (hence
the ``S608`` waivers); values from the log never become SQL text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import duckdb
import numpy as np

from mlplat.monitoring.log_scan import TABLE
from mlplat.monitoring.profile import Binned
from mlplat.monitoring.stability import Level, level, psi, shares, worst
from mlplat.offline.duckdb_engine import literal
from mlplat.spec.kinds import Thresholds

PERIODS = ("current", "previous")
#: Which version took (or shadowed) a record.
ROLE = "CASE WHEN kind = 'shadow' THEN 'shadow' WHEN canary THEN 'canary' ELSE 'primary' END"


@dataclass(frozen=True)
class Distribution:
    """One input's (or one version's score) binned shares: reference, current and previous window."""

    name: str
    edges: tuple[float, ...]
    reference: tuple[float, ...]
    """Shares of the ``len(edges) + 1`` bins and, last, missing."""
    current: tuple[float, ...] | None
    previous: tuple[float, ...] | None
    count: int
    psi_reference: float | None
    psi_previous: float | None
    level: Level


@dataclass(frozen=True)
class Health:
    """How one input was served in the current window (shares of decision and refusal records)."""

    ref: str
    missing_share: float | None
    """No value for the entity, or a null value."""
    stale_share: float | None
    """Stored but older than the view's ttl."""
    default_share: float | None
    """Scored with the feature's default (``decision.onMissing: useDefault``)."""
    reference_missing_share: float


@dataclass(frozen=True)
class VersionRate:
    """Approval rate of one version in one role, current window against previous."""

    version: str
    role: str
    decisions: int
    approval_rate: float | None
    previous_decisions: int
    previous_approval_rate: float | None
    shift: float | None
    level: Level


@dataclass(frozen=True)
class DailyRate:
    day: date
    version: str
    role: str
    decisions: int
    approval_rate: float


@dataclass(frozen=True)
class Volume:
    """Requests of one period: decisions, refusals and errors (shadow records not counted)."""

    period: str
    requests: int
    decisions: int
    refusals: int
    errors: int

    @property
    def refusal_rate(self) -> float | None:
        return None if self.requests == 0 else self.refusals / self.requests

    @property
    def error_rate(self) -> float | None:
        return None if self.requests == 0 else self.errors / self.requests


def period_column(current_start: str) -> str:
    """SQL naming each record's period, given the current window's start as a timestamp literal."""
    return f"CASE WHEN time >= {current_start}::TIMESTAMPTZ THEN 'current' ELSE 'previous' END"


def bin_expression(value: str, edges: Sequence[float]) -> str:
    """SQL of the bin index of ``value`` (0 .. len(edges)); edges are our own floats, written as literals."""
    if not edges:
        return "0"
    cases = " ".join(f"WHEN {value} <= {float(edge)!r} THEN {i}" for i, edge in enumerate(edges))
    return f"CASE {cases} ELSE {len(edges)} END"


def _counts(rows: Sequence[tuple[str, int, int]], bins: int) -> dict[str, np.ndarray]:
    """Per period, counts over ``bins`` bins and, last, missing (bin -1)."""
    found = {p: np.zeros(bins + 1, dtype=np.float64) for p in PERIODS}
    for period, index, count in rows:
        found[period][bins if index < 0 else index] += count
    return found


def _distribution(
    name: str, reference: Binned, counts: Mapping[str, np.ndarray], thresholds: Thresholds
) -> Distribution:
    expected = reference.categories()
    current, previous = shares(counts["current"]), shares(counts["previous"])
    against_reference, against_previous = psi(expected, current), psi(previous, current)
    judged = [level(against_reference, thresholds), level(against_previous, thresholds)]
    return Distribution(
        name,
        reference.edges,
        tuple(float(x) for x in expected),
        None if current is None else tuple(float(x) for x in current),
        None if previous is None else tuple(float(x) for x in previous),
        int(counts["current"].sum()),
        against_reference,
        against_previous,
        worst(judged),
    )


def input_drift(
    connection: duckdb.DuckDBPyConnection,
    periods: str,
    references: Mapping[str, Binned],
    thresholds: Thresholds,
) -> tuple[list[Distribution], list[Health]]:
    """Each input's distribution against its reference and the previous window, and its health (one scan each)."""
    drifts, health = [], []
    for ref, reference in references.items():
        feature = f"features[{literal(ref)}]"
        served = f"{feature}.source IN ('store', 'request')"
        index = f"CASE WHEN {served} THEN {bin_expression(f'{feature}.value', reference.edges)} ELSE -1 END"
        missing = f"{feature}.status = 'NOT_FOUND' OR ({feature}.status = 'PRESENT' AND NOT {served})"
        # A request value has no status: a NULL comparison counts as false, not as NULL.
        flags = ", ".join(
            f"coalesce({c}, false)"
            for c in (missing, f"{feature}.status = 'OUTSIDE_MAX_AGE'", f"{feature}.source = 'default'")
        )
        rows = connection.execute(
            f"SELECT {periods} AS period, {index} AS bin, {flags}, count(*) FROM {TABLE} "  # noqa: S608
            "WHERE kind IN ('decision', 'refusal') GROUP BY ALL"
        ).fetchall()
        counts = _counts([(period, index, count) for period, index, *_, count in rows], len(reference.edges) + 1)
        drifts.append(_distribution(ref, reference, counts, thresholds))
        health.append(_health(ref, reference, [row[2:] for row in rows if row[0] == "current"]))
    return drifts, health


def _health(ref: str, reference: Binned, rows: Sequence[tuple[bool, bool, bool, int]]) -> Health:
    """Health of the current window from its (missing, stale, default, count) groups."""
    total = sum(count for *_, count in rows)
    if not total:
        return Health(ref, None, None, None, reference.missing_share)
    shares = [sum(count for *flags, count in rows if flags[k]) / total for k in range(3)]
    return Health(ref, shares[0], shares[1], shares[2], reference.missing_share)


def score_drift(
    connection: duckdb.DuckDBPyConnection,
    periods: str,
    references: Mapping[str, Binned],
    thresholds: Thresholds,
) -> list[Distribution]:
    """Each profiled version's score distribution (all its roles) against its own reference, if it scored at all."""
    drifts = []
    for version, reference in references.items():
        rows = connection.execute(
            f"SELECT {periods} AS period, {bin_expression('score', reference.edges)} AS bin, count(*) FROM {TABLE} "  # noqa: S608
            "WHERE kind IN ('decision', 'shadow') AND score IS NOT NULL AND version = ? GROUP BY ALL",
            [version],
        ).fetchall()
        if not rows:  # a version that took no decision in either window
            continue
        counts = _counts(rows, len(reference.edges) + 1)
        drifts.append(_distribution(f"score {version}", reference, counts, thresholds))
    return drifts


def approval_rates(connection: duckdb.DuckDBPyConnection, periods: str, thresholds: Thresholds) -> list[VersionRate]:
    """Approval rate per version and role (primary, canary, shadow), current window against previous."""
    rows = connection.execute(
        f"SELECT version, {ROLE} AS role, {periods} AS period, count(*), count_if(decision = 'approve') "  # noqa: S608
        f"FROM {TABLE} WHERE kind IN ('decision', 'shadow') GROUP BY ALL"
    ).fetchall()
    by_key: dict[tuple[str, str], dict[str, tuple[int, int]]] = {}
    for version, role, period, count, approved in rows:
        by_key.setdefault((version, role), {})[period] = (int(count), int(approved))
    order = {"primary": 0, "canary": 1, "shadow": 2}
    rates = []
    for (version, role), found in sorted(by_key.items(), key=lambda item: (order[item[0][1]], item[0][0])):
        now, before = found.get("current", (0, 0)), found.get("previous", (0, 0))
        rate = now[1] / now[0] if now[0] else None
        previous = before[1] / before[0] if before[0] else None
        shift = None if rate is None or previous is None else abs(rate - previous)
        rates.append(VersionRate(version, role, now[0], rate, before[0], previous, shift, level(shift, thresholds)))
    return rates


def daily_rates(connection: duckdb.DuckDBPyConnection) -> list[DailyRate]:
    """Approval rate per day, version and role over both windows."""
    rows = connection.execute(
        f"SELECT CAST(time AS DATE) AS day, version, {ROLE} AS role, count(*), avg(CAST(decision = 'approve' AS INT)) "  # noqa: S608
        f"FROM {TABLE} WHERE kind IN ('decision', 'shadow') GROUP BY ALL ORDER BY day, role, version"
    ).fetchall()
    return [DailyRate(day, version, role, int(count), float(rate)) for day, version, role, count, rate in rows]


def volumes(connection: duckdb.DuckDBPyConnection, periods: str) -> list[Volume]:
    """Requests, decisions, refusals and errors per period."""
    rows = {
        period: (int(a), int(b), int(c), int(d))
        for period, a, b, c, d in connection.execute(
            f"SELECT {periods} AS period, count(*), count_if(kind = 'decision'), count_if(kind = 'refusal'), "  # noqa: S608
            f"count_if(kind = 'error') FROM {TABLE} WHERE kind != 'shadow' GROUP BY ALL"
        ).fetchall()
    }
    return [Volume(p, *rows.get(p, (0, 0, 0, 0))) for p in PERIODS]
