"""The single-row C-API path gives LightGBM's own numbers, bit for bit, on the models we serve."""

from __future__ import annotations

import threading
from pathlib import Path

import lightgbm
import numpy as np
import pytest

from mlplat.models.lightgbm_native import NativeError, OneRowPredictor
from mlplat.models.scoring import LightGBMModel

REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = sorted(REPO.glob("models/*/*/model.txt"))


def rows(width: int, count: int = 2000) -> np.ndarray:
    rng = np.random.default_rng(12)
    data = rng.normal(scale=50, size=(count, width)).astype(np.float32)
    data[rng.random(data.shape) < 0.15] = np.nan  # missing features take the trees' default branches
    data[0] = np.nan
    data[1] = np.finfo(np.float32).max
    data[2] = 0.0
    return data


@pytest.mark.parametrize("artifact", ARTIFACTS, ids=lambda p: "/".join(p.parts[-3:-1]))
def test_scores_and_contributions_equal_the_wrappers_bit_for_bit(artifact: Path) -> None:
    model = LightGBMModel.from_bytes(artifact.name, artifact.read_bytes())
    booster = lightgbm.Booster(model_str=artifact.read_text())
    data = rows(model.n_features)
    expected_scores = booster.predict(data, num_threads=1)
    expected_contributions = booster.predict(data, pred_contrib=True, num_threads=1)
    got = [model.score_and_explain(row.reshape(1, -1)) for row in data]
    scores = np.array([score for score, _ in got])
    contributions = np.array([np.append(e.contributions, e.bias) for _, e in got])
    largest = float(np.max(np.abs(scores - expected_scores)))
    assert largest == 0.0, f"largest score difference {largest}"
    assert np.array_equal(contributions, expected_contributions)
    assert np.array_equal(model.score(data), scores)  # the batch scorer (V2 infer) agrees


def test_threads_share_a_predictor_without_mixing_results() -> None:
    artifact = ARTIFACTS[-1]
    model = LightGBMModel.from_bytes(artifact.name, artifact.read_bytes())
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


def test_a_row_of_the_wrong_width_is_refused_before_it_reaches_the_library() -> None:
    artifact = ARTIFACTS[-1]
    width = lightgbm.Booster(model_str=artifact.read_text()).num_feature()
    predictor = OneRowPredictor(artifact.read_text(), width)
    with pytest.raises(NativeError, match=f"a row of {width + 1} values for a model of {width} features"):
        predictor.score_and_contributions(np.zeros((1, width + 1), dtype=np.float32))
    predictor.close()


def test_a_broken_model_text_is_an_error() -> None:
    with pytest.raises(NativeError):
        OneRowPredictor("tree\nnot a model\n", 3)
