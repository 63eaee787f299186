"""Evaluation metrics agree with scikit-learn and with hand-worked cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mlplat.training.metrics import auc, deciles, evaluate, ks


def test_auc_matches_scikit_learn_with_ties() -> None:
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 500)
    scores = np.round(rng.random(500) + 0.3 * labels, 1)  # rounding makes many ties
    assert auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_auc_of_one_class_is_uninformative() -> None:
    assert auc(np.zeros(4, dtype=np.int64), np.array([0.1, 0.2, 0.3, 0.4])) == 0.5


def test_ks_is_the_widest_cdf_gap() -> None:
    labels = np.array([0, 0, 1, 1])
    assert ks(labels, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert ks(labels, np.array([0.1, 0.8, 0.2, 0.9])) == 0.5


def test_deciles_pair_mean_scores_with_observed_rates() -> None:
    scores = np.linspace(0, 1, 100)
    labels = (scores > 0.895).astype(np.int64)
    table = deciles(labels, scores)
    assert [d.count for d in table] == [10] * 10
    assert table[-1].observed_rate == 1.0
    assert table[0].observed_rate == 0.0
    assert table[0].mean_score == pytest.approx(0.04545, abs=1e-4)


def test_evaluate_reports_brier_and_base_rate() -> None:
    result = evaluate(np.array([0, 1, 1, 0]), np.array([0.0, 1.0, 0.5, 0.5]))
    assert result.brier == pytest.approx(0.125)
    assert result.base_rate == 0.5
    assert result.positives == 2
