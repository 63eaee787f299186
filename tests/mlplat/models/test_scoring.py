"""Loading the safe formats, refusing the rest, and explanations that add up to the score."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pytest

from mlplat.models.artifacts import ArtifactError
from mlplat.models.scoring import load_model, sigmoid
from mlplat.spec.kinds import Framework
from tests.model_fixtures import training_data, write_lightgbm, write_onnx_logistic, write_xgboost

WIDTH = 6


@pytest.fixture(params=["xgboost-ubj", "xgboost-json", "lightgbm"])
def tree_model(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Framework, str, bytes]:
    if request.param == "lightgbm":
        path = tmp_path / "model.txt"
        write_lightgbm(path, WIDTH)
        return Framework.LIGHTGBM, path.name, path.read_bytes()
    path = tmp_path / ("model.ubj" if request.param.endswith("ubj") else "model.json")
    write_xgboost(path, WIDTH)
    return Framework.XGBOOST, path.name, path.read_bytes()


def test_tree_models_score_like_the_native_library(tree_model: tuple[Framework, str, bytes], tmp_path: Path) -> None:
    framework, uri, data = tree_model
    model = load_model(framework, uri, data)
    rows, _ = training_data(WIDTH, seed=3)
    scores = model.score(rows[:50])
    assert model.n_features == WIDTH
    assert scores.shape == (50,)
    assert np.all((scores > 0) & (scores < 1))
    assert len(set(np.round(scores, 6))) > 5


def test_contributions_and_bias_sum_to_the_margin_of_the_score(tree_model: tuple[Framework, str, bytes]) -> None:
    framework, uri, data = tree_model
    model = load_model(framework, uri, data)
    rows, _ = training_data(WIDTH, seed=4)
    for row in rows[:20]:
        one = row.reshape(1, -1)
        explanation = model.explain(one)
        assert explanation.contributions.shape == (WIDTH,)
        assert sigmoid(explanation.margin) == pytest.approx(float(model.score(one)[0]), abs=1e-5)


def test_missing_values_score_as_nan(tree_model: tuple[Framework, str, bytes]) -> None:
    framework, uri, data = tree_model
    model = load_model(framework, uri, data)
    row = np.full((1, WIDTH), np.nan, dtype=np.float32)
    score = float(model.score(row)[0])
    assert 0 < score < 1
    assert sigmoid(model.explain(row).margin) == pytest.approx(score, abs=1e-5)


def test_onnx_graph_scores_its_probability_output(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    write_onnx_logistic(path, [1.0, -2.0, 0.5], 0.1)
    model = load_model(Framework.ONNX, path.name, path.read_bytes())
    scores = model.score(np.array([[1, 1, 1], [0, 0, 0]], dtype=np.float32))
    assert model.n_features == 3
    assert not model.explains
    assert scores == pytest.approx([sigmoid(-0.4), sigmoid(0.1)], abs=1e-6)
    with pytest.raises(ArtifactError, match="reasonCodes to 0"):
        model.explain(np.zeros((1, 3), dtype=np.float32))


@pytest.mark.parametrize(
    ("framework", "uri", "data", "message"),
    [
        (Framework.XGBOOST, "model.pkl", pickle.dumps({"a": 1}), r"expected a file ending in \.json or \.ubj"),
        (Framework.XGBOOST, "model.json", pickle.dumps({"a": 1}), "legacy binary models are refused"),
        (Framework.LIGHTGBM, "model.txt", b"not a model", "must start with 'tree'"),
        (Framework.LIGHTGBM, "model.pickle", b"tree\n", r"expected a file ending in \.txt"),
        (Framework.ONNX, "model.onnx", b"garbage", "not a valid onnx model"),
        (Framework.XGBOOST, "model.json", b'{"nonsense": true}', "not a valid xgboost model"),
    ],
)
def test_unsafe_or_unknown_artifacts_are_refused(framework: Framework, uri: str, data: bytes, message: str) -> None:
    with pytest.raises(ArtifactError, match=message):
        load_model(framework, uri, data)


def test_a_regression_booster_is_refused_because_its_scores_are_not_probabilities(tmp_path: Path) -> None:
    import xgboost

    x, y = training_data(WIDTH)
    booster = xgboost.train({"objective": "reg:squarederror", "nthread": 1}, xgboost.DMatrix(x, label=y), 3)
    path = tmp_path / "model.json"
    booster.save_model(str(path))
    with pytest.raises(ArtifactError, match="objective 'reg:squarederror'"):
        load_model(Framework.XGBOOST, "model.json", path.read_bytes())


def test_sigmoid_is_the_inverse_of_log_odds() -> None:
    assert sigmoid(math.log(0.2 / 0.8)) == pytest.approx(0.2)


def test_score_and_explain_equals_score_and_explain_apart(tree_model: tuple[Framework, str, bytes]) -> None:
    framework, uri, data = tree_model
    model = load_model(framework, uri, data)
    rows, _ = training_data(WIDTH, seed=5)
    rows[::2, 1] = np.nan
    for row in rows[:20]:
        one = row.reshape(1, -1)
        score, explanation = model.score_and_explain(one)
        assert score == float(model.score(one)[0])
        assert np.array_equal(explanation.contributions, model.explain(one).contributions)
