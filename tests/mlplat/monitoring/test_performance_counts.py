"""AUC and KS from counts per distinct score are the model card's AUC and KS of the scores themselves."""

from __future__ import annotations

import numpy as np
import pytest

from mlplat.monitoring.performance import auc_of_counts, ks_of_counts
from mlplat.training.metrics import auc, ks


def _counts(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    distinct, index = np.unique(scores, return_inverse=True)
    bads = np.bincount(index, weights=labels, minlength=len(distinct)).astype(np.int64)
    goods = np.bincount(index, weights=1 - labels, minlength=len(distinct)).astype(np.int64)
    return bads, goods


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("rounding", [None, 2])  # 2 decimals: many tied scores
def test_the_counts_give_the_model_cards_figures(seed: int, rounding: int | None) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.random(2000)
    labels = (rng.random(2000) < scores * 0.4).astype(np.int64)
    if rounding is not None:
        scores = np.round(scores, rounding)
    bads, goods = _counts(labels, scores)
    assert auc_of_counts(bads, goods) == pytest.approx(auc(labels, scores), abs=1e-12)
    assert ks_of_counts(bads, goods) == pytest.approx(ks(labels, scores), abs=1e-12)


def test_one_class_gives_the_neutral_figures() -> None:
    assert auc_of_counts(np.array([0, 0]), np.array([3, 1])) == 0.5
    assert ks_of_counts(np.array([2, 1]), np.array([0, 0])) == 0.0
