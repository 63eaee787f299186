"""Evaluation metrics of a binary scorer: discrimination (AUC, KS) and calibration (Brier, deciles)."""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Decile:
    """One tenth of the scored events, from the lowest scores to the highest."""

    decile: int
    count: int
    mean_score: float
    observed_rate: float


@dataclass(frozen=True)
class Evaluation:
    """How well scores separate and estimate the bad outcome on one set of events."""

    count: int
    positives: int
    base_rate: float
    auc: float
    ks: float
    brier: float
    deciles: tuple[Decile, ...]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks; tied values share their mean rank."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    sorted_values = values[order]
    boundaries = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1], True])
    for lo, hi in itertools.pairwise(boundaries):
        ranks[order[lo:hi]] = (lo + hi + 1) / 2
    return ranks


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U); 0.5 when only one class is present."""
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return 0.5
    ranks = _average_ranks(scores)
    return float((ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def ks(labels: np.ndarray, scores: np.ndarray) -> float:
    """Kolmogorov-Smirnov statistic: the widest gap between the score CDFs of bads and goods."""
    bad, good = np.sort(scores[labels == 1]), np.sort(scores[labels == 0])
    if len(bad) == 0 or len(good) == 0:
        return 0.0
    thresholds = np.unique(scores)
    bad_cdf = np.searchsorted(bad, thresholds, side="right") / len(bad)
    good_cdf = np.searchsorted(good, thresholds, side="right") / len(good)
    return float(np.max(np.abs(bad_cdf - good_cdf)))


def deciles(labels: np.ndarray, scores: np.ndarray) -> tuple[Decile, ...]:
    """Calibration table: mean score beside the observed rate in each score decile."""
    order = np.argsort(scores, kind="mergesort")
    table = []
    for index, chunk in enumerate(np.array_split(order, 10)):
        if len(chunk) == 0:
            continue
        table.append(Decile(index + 1, len(chunk), float(scores[chunk].mean()), float(labels[chunk].mean())))
    return tuple(table)


def evaluate(labels: np.ndarray, scores: np.ndarray) -> Evaluation:
    """Every metric of ``scores`` (probabilities of the bad outcome) against 0/1 ``labels``."""
    labels = labels.astype(np.int64)
    return Evaluation(
        count=len(labels),
        positives=int(labels.sum()),
        base_rate=float(labels.mean()) if len(labels) else 0.0,
        auc=auc(labels, scores),
        ks=ks(labels, scores),
        brier=float(np.mean((scores - labels) ** 2)) if len(labels) else 0.0,
        deciles=deciles(labels, scores),
    )
