"""Population stability, as pure functions: PSI over binned shares, and the level it reaches.

PSI = sum over bins of (actual - expected) * ln(actual / expected), with each share
floored at :data:`SHARE_FLOOR` so an empty bin counts as rare, not as infinitely
surprising. Credit-scoring convention: below 0.1 stable, 0.1-0.25 watch, 0.25+ act.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import numpy as np

from mlplat.spec.kinds import Thresholds

SHARE_FLOOR = 1e-4


class Level(StrEnum):
    """How a monitored figure stands against its thresholds."""

    OK = "ok"
    WATCH = "watch"
    ACT = "act"
    #: Too few decisions (or no comparison) to judge.
    NONE = "n/a"


def shares(counts: Sequence[float] | np.ndarray) -> np.ndarray | None:
    """Counts as shares summing to 1; ``None`` when there is nothing to count."""
    array = np.asarray(counts, dtype=np.float64)
    total = array.sum()
    return None if total <= 0 else array / total


def psi(expected: np.ndarray | None, actual: np.ndarray | None) -> float | None:
    """The population stability index of ``actual`` against ``expected`` (shares over the same bins)."""
    if expected is None or actual is None:
        return None
    if expected.shape != actual.shape:
        raise ValueError(f"PSI of {actual.shape[0]} bins against {expected.shape[0]}: the bins must be the same")
    e = np.maximum(expected, SHARE_FLOOR)
    a = np.maximum(actual, SHARE_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def level(value: float | None, thresholds: Thresholds) -> Level:
    """``act`` at or above ``thresholds.act``, ``watch`` at or above ``watch``, else ``ok``; ``n/a`` for no value."""
    if value is None:
        return Level.NONE
    if value >= thresholds.act:
        return Level.ACT
    if value >= thresholds.watch:
        return Level.WATCH
    return Level.OK


def worst(levels: Sequence[Level]) -> Level:
    """The most severe of ``levels`` (``n/a`` only when nothing was judged)."""
    for candidate in (Level.ACT, Level.WATCH, Level.OK):
        if candidate in levels:
            return candidate
    return Level.NONE
