"""The one-row C-API path gives XGBoost's own numbers, bit for bit, on the models we serve."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import xgboost

from mlplat.models.scoring import XGBoostModel
from mlplat.models.xgboost_native import NativeError, OneRowPredictor

REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = sorted(REPO.glob("models/*/*/model.ubj"))


def rows(width: int, count: int = 2000) -> np.ndarray:
    rng = np.random.default_rng(11)
    data = rng.normal(scale=50, size=(count, width)).astype(np.float32)
    data[rng.random(data.shape) < 0.15] = np.nan  # missing features take the trees' default branches
    data[0] = np.nan
    data[1] = np.finfo(np.float32).max
    data[2] = 0.0
    return data


@pytest.mark.parametrize("artifact", ARTIFACTS, ids=lambda p: "/".join(p.parts[-3:-1]))
def test_scores_and_contributions_equal_the_wrappers_bit_for_bit(artifact: Path) -> None:
    assert ARTIFACTS, "no XGBoost artifacts under models/"
    model = XGBoostModel.from_bytes(artifact.name, artifact.read_bytes())
    booster = xgboost.Booster(model_file=str(artifact))
    booster.set_param({"nthread": 1})
    data = rows(model.n_features)
    matrix = xgboost.DMatrix(data, missing=np.nan)
    expected_scores = booster.predict(matrix, validate_features=False).astype(np.float64)
    expected_contributions = booster.predict(matrix, pred_contribs=True, validate_features=False).astype(np.float64)
    got = [model.score_and_explain(row.reshape(1, -1)) for row in data]
    scores = np.array([score for score, _ in got])
    contributions = np.array([np.append(e.contributions, e.bias) for _, e in got])
    largest = float(np.max(np.abs(scores - expected_scores)))
    assert largest == 0.0, f"largest score difference {largest}"
    assert np.array_equal(contributions, expected_contributions)
    # and the batch scorer (V2 infer) agrees with the one-row path
    assert np.array_equal(model.score(data), scores)


def test_threads_share_a_predictor_without_mixing_results() -> None:
    artifact = ARTIFACTS[-1]
    model = XGBoostModel.from_bytes(artifact.name, artifact.read_bytes())
    data = rows(model.n_features, 400)
    expected = [model.score_and_explain(row.reshape(1, -1))[0] for row in data]
    found: dict[int, list[float]] = {}

    def score_all(worker: int) -> None:
        found[worker] = [model.score_and_explain(row.reshape(1, -1))[0] for row in data]

    threads = [threading.Thread(target=score_all, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(found[w] == expected for w in range(4))


def test_a_row_of_the_wrong_width_is_an_error_not_a_crash() -> None:
    artifact = ARTIFACTS[-1]
    booster = xgboost.Booster(model_file=str(artifact))
    width = int(booster.num_features())
    predictor = OneRowPredictor(booster, width + 1)  # claims one column more than the model has
    with pytest.raises(NativeError):
        predictor.score_and_contributions(np.zeros((1, width + 1), dtype=np.float32))
