"""Drift, feature health, approval rates and volumes of one model's window, from an engine's counts.

Every figure comes from the rows of :class:`mlplat.monitoring.aggregates.WindowAggregates`
(whichever engine counted them), tagged by period: ``current`` is ``[as_of - window,
as_of)``, ``previous`` the window before it. Inputs are the population's: decision and
refusal records (a shadow record repeats its decision's inputs). A value counts in the
distribution when it was served (source ``store`` or ``request``); otherwise it is in the
missing bin, as a null is in the training profile.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from mlplat.monitoring.aggregates import PERIODS, DailyRow, InputRow, RateRow, ScoreRow, VolumeRow
from mlplat.monitoring.profile import Binned
from mlplat.monitoring.stability import Level, level, psi, shares, worst
from mlplat.spec.kinds import Thresholds


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
    rows: Mapping[str, Sequence[InputRow]], references: Mapping[str, Binned], thresholds: Thresholds
) -> tuple[list[Distribution], list[Health]]:
    """Each input's distribution against its reference and the previous window, and its health."""
    drifts, health = [], []
    for ref, reference in references.items():
        groups = rows.get(ref, ())
        counts = _counts([(period, index, count) for period, index, *_, count in groups], len(reference.edges) + 1)
        drifts.append(_distribution(ref, reference, counts, thresholds))
        health.append(_health(ref, reference, [row[2:] for row in groups if row[0] == "current"]))
    return drifts, health


def _health(ref: str, reference: Binned, rows: Sequence[tuple[bool, bool, bool, int]]) -> Health:
    """Health of the current window from its (missing, stale, default, count) groups."""
    total = sum(count for *_, count in rows)
    if not total:
        return Health(ref, None, None, None, reference.missing_share)
    found = [sum(count for *flags, count in rows if flags[k]) / total for k in range(3)]
    return Health(ref, found[0], found[1], found[2], reference.missing_share)


def score_drift(
    rows: Mapping[str, Sequence[ScoreRow]], references: Mapping[str, Binned], thresholds: Thresholds
) -> list[Distribution]:
    """Each profiled version's score distribution (all its roles) against its own reference, if it scored at all."""
    drifts = []
    for version, reference in references.items():
        groups = rows.get(version, ())
        if not groups:  # a version that took no decision in either window
            continue
        counts = _counts(groups, len(reference.edges) + 1)
        drifts.append(_distribution(f"score {version}", reference, counts, thresholds))
    return drifts


_ROLE_ORDER = {"primary": 0, "canary": 1, "shadow": 2}


def approval_rates(rows: Sequence[RateRow], thresholds: Thresholds) -> list[VersionRate]:
    """Approval rate per version and role (primary, canary, shadow), current window against previous."""
    by_key: dict[tuple[str, str], dict[str, tuple[int, int]]] = {}
    for version, role, period, count, approved in rows:
        by_key.setdefault((version, role), {})[period] = (count, approved)
    rates = []
    for (version, role), found in sorted(by_key.items(), key=lambda item: (_ROLE_ORDER[item[0][1]], item[0][0])):
        now, before = found.get("current", (0, 0)), found.get("previous", (0, 0))
        rate = now[1] / now[0] if now[0] else None
        previous = before[1] / before[0] if before[0] else None
        shift = None if rate is None or previous is None else abs(rate - previous)
        rates.append(VersionRate(version, role, now[0], rate, before[0], previous, shift, level(shift, thresholds)))
    return rates


def daily_rates(rows: Sequence[DailyRow]) -> list[DailyRate]:
    """Approval rate per day, version and role over both windows."""
    ordered = sorted(rows, key=lambda row: (row[0], row[2], row[1]))
    return [DailyRate(day, version, role, count, approved / count) for day, version, role, count, approved in ordered]


def volumes(rows: Sequence[VolumeRow]) -> list[Volume]:
    """Requests, decisions, refusals and errors per period."""
    found = {period: (a, b, c, d) for period, a, b, c, d in rows}
    return [Volume(p, *found.get(p, (0, 0, 0, 0))) for p in PERIODS]
