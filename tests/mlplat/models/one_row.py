"""What the parity tests of the one-row C-API paths share: awkward rows, and threads at once."""

from __future__ import annotations

import threading

import numpy as np

from mlplat.models.scoring import ScoringModel


def awkward_rows(width: int, count: int, seed: int) -> np.ndarray:
    """Rows with missing values, an all-missing row, the largest float32 and all zeros."""
    rng = np.random.default_rng(seed)
    data = rng.normal(scale=50, size=(count, width)).astype(np.float32)
    data[rng.random(data.shape) < 0.15] = np.nan  # missing features take the trees' default branches
    data[0] = np.nan
    data[1] = np.finfo(np.float32).max
    data[2] = 0.0
    return data


def assert_threads_agree(model: ScoringModel, data: np.ndarray, threads: int = 4) -> None:
    """Threads scoring ``data`` one row at a time, all at once, each get the sequential scores."""
    expected = [model.score_and_explain(row.reshape(1, -1))[0] for row in data]
    found: dict[int, list[float]] = {}

    def score_all(worker: int) -> None:
        found[worker] = [model.score_and_explain(row.reshape(1, -1))[0] for row in data]

    workers = [threading.Thread(target=score_all, args=(w,)) for w in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert all(found[w] == expected for w in range(threads))


def assert_bit_identical(
    model: ScoringModel, data: np.ndarray, expected_scores: np.ndarray, expected_contributions: np.ndarray
) -> None:
    """The one-row path's scores and contributions equal the wrapper's exactly, and so does V2's batch scorer."""
    got = [model.score_and_explain(row.reshape(1, -1)) for row in data]
    scores = np.array([score for score, _ in got])
    contributions = np.array([np.append(e.contributions, e.bias) for _, e in got])
    largest = float(np.max(np.abs(scores - np.asarray(expected_scores, dtype=np.float64))))
    assert largest == 0.0, f"largest score difference {largest}"
    assert np.array_equal(contributions, np.asarray(expected_contributions, dtype=np.float64))
    assert np.array_equal(model.score(data), scores)
