"""PSI and levels, as tables."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlplat.monitoring.stability import SHARE_FLOOR, Level, level, psi, shares, worst
from mlplat.spec.kinds import Thresholds

DEFAULTS = Thresholds(watch=0.1, act=0.25)


@pytest.mark.parametrize(
    ("expected", "actual", "wanted"),
    [
        ([0.5, 0.5], [0.5, 0.5], 0.0),
        ([0.5, 0.5], [0.6, 0.4], 0.1 * math.log(0.6 / 0.5) - 0.1 * math.log(0.4 / 0.5)),
        ([0.25, 0.25, 0.25, 0.25], [0.1, 0.2, 0.3, 0.4], None),  # computed below, symmetric in sign
        # An empty bin counts as rare (the floor), not as infinitely surprising.
        ([1.0, 0.0], [0.5, 0.5], (0.5 - 1.0) * math.log(0.5) + (0.5 - SHARE_FLOOR) * math.log(0.5 / SHARE_FLOOR)),
    ],
)
def test_psi(expected: list[float], actual: list[float], wanted: float | None) -> None:
    e, a = np.array(expected), np.array(actual)
    if wanted is None:
        wanted = float(np.sum((a - e) * np.log(a / e)))
    assert psi(e, a) == pytest.approx(wanted)
    assert psi(e, a) == pytest.approx(psi(a, e) if 0 not in expected else psi(e, a))


def test_psi_of_nothing_is_none_and_bins_must_match() -> None:
    assert psi(None, np.array([1.0])) is None
    assert shares([0, 0]) is None
    with pytest.raises(ValueError, match="bins must be the same"):
        psi(np.array([0.5, 0.5]), np.array([1.0]))


@pytest.mark.parametrize(
    ("value", "wanted"),
    [
        (None, Level.NONE),
        (0.0, Level.OK),
        (0.0999, Level.OK),
        (0.1, Level.WATCH),
        (0.2499, Level.WATCH),
        (0.25, Level.ACT),
    ],
)
def test_level_uses_the_credit_conventions_by_default(value: float | None, wanted: Level) -> None:
    assert level(value, DEFAULTS) is wanted


@pytest.mark.parametrize(
    ("levels", "wanted"),
    [
        ([], Level.NONE),
        ([Level.NONE, Level.OK], Level.OK),
        ([Level.OK, Level.WATCH, Level.NONE], Level.WATCH),
        ([Level.WATCH, Level.ACT, Level.OK], Level.ACT),
    ],
)
def test_worst(levels: list[Level], wanted: Level) -> None:
    assert worst(levels) is wanted
