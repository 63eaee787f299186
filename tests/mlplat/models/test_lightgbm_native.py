"""The single-row C-API path gives LightGBM's own numbers, bit for bit, on the models we serve."""

from __future__ import annotations

from pathlib import Path

import lightgbm
import numpy as np
import pytest

from mlplat.models.lightgbm_native import NativeError, OneRowPredictor
from mlplat.models.scoring import LightGBMModel
from tests.mlplat.models.one_row import assert_bit_identical, assert_threads_agree, awkward_rows

REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = sorted(REPO.glob("models/*/*/model.txt"))


def test_every_example_model_of_the_framework_is_checked() -> None:
    assert [(p.parts[-3], p.parts[-2]) for p in ARTIFACTS] == [("fraud", "v1"), ("fraud", "v2")]


@pytest.mark.parametrize("artifact", ARTIFACTS, ids=lambda p: "/".join(p.parts[-3:-1]))
def test_scores_and_contributions_equal_the_wrappers_bit_for_bit(artifact: Path) -> None:
    model = LightGBMModel.from_bytes(artifact.name, artifact.read_bytes())
    booster = lightgbm.Booster(model_str=artifact.read_text())
    data = awkward_rows(model.n_features, 2000, seed=12)
    expected_scores = booster.predict(data, num_threads=1)
    expected_contributions = booster.predict(data, pred_contrib=True, num_threads=1)
    assert_bit_identical(model, data, expected_scores, expected_contributions)


def test_threads_share_a_predictor_without_mixing_results() -> None:
    artifact = ARTIFACTS[-1]
    model = LightGBMModel.from_bytes(artifact.name, artifact.read_bytes())
    assert_threads_agree(model, awkward_rows(model.n_features, 400, seed=12))


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
