"""The one-row C-API path gives XGBoost's own numbers, bit for bit, on the models we serve."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xgboost

from mlplat.models.scoring import XGBoostModel
from mlplat.models.xgboost_native import NativeError, OneRowPredictor
from tests.mlplat.models.one_row import assert_bit_identical, assert_threads_agree, awkward_rows

REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = sorted(REPO.glob("models/*/*/model.ubj"))


def test_every_example_model_of_the_framework_is_checked() -> None:
    assert [(p.parts[-3], p.parts[-2]) for p in ARTIFACTS] == [("default_risk", "v1"), ("default_risk", "v2")]


@pytest.mark.parametrize("artifact", ARTIFACTS, ids=lambda p: "/".join(p.parts[-3:-1]))
def test_scores_and_contributions_equal_the_wrappers_bit_for_bit(artifact: Path) -> None:
    model = XGBoostModel.from_bytes(artifact.name, artifact.read_bytes())
    booster = xgboost.Booster(model_file=str(artifact))
    booster.set_param({"nthread": 1})
    data = awkward_rows(model.n_features, 2000, seed=11)
    matrix = xgboost.DMatrix(data, missing=np.nan)
    expected_scores = booster.predict(matrix, validate_features=False).astype(np.float64)
    expected_contributions = booster.predict(matrix, pred_contribs=True, validate_features=False).astype(np.float64)
    assert_bit_identical(model, data, expected_scores, expected_contributions)


def test_threads_share_a_predictor_without_mixing_results() -> None:
    artifact = ARTIFACTS[-1]
    model = XGBoostModel.from_bytes(artifact.name, artifact.read_bytes())
    assert_threads_agree(model, awkward_rows(model.n_features, 400, seed=11))


def test_a_row_of_the_wrong_width_is_an_error_not_a_crash() -> None:
    artifact = ARTIFACTS[-1]
    booster = xgboost.Booster(model_file=str(artifact))
    width = int(booster.num_features())
    predictor = OneRowPredictor(booster, width + 1)  # claims one column more than the model has
    with pytest.raises(NativeError):
        predictor.score_and_contributions(np.zeros((1, width + 1), dtype=np.float32))
