"""The decision policy: which vector is scored, when to refuse, and which reasons are given."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from mlplat.catalog import ModelInput
from mlplat.models.policy import (
    Outcome,
    ValueSource,
    assemble_inputs,
    decide,
    must_refuse,
    reason_codes,
)
from mlplat.models.scoring import Explanation, load_model, sigmoid
from mlplat.online_store.base import FeatureStatus, FeatureValue
from mlplat.spec.kinds import Framework, MissingPolicy
from mlplat.spec.types import DType
from tests.model_fixtures import training_data, write_xgboost

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
INPUTS = (
    ModelInput("bureau:fico", "bureau", "fico", DType.INT32, None, "Credit score is too low"),
    ModelInput("bureau:bankrupt", "bureau", "bankrupt", DType.BOOL, False, "Bankruptcy on file"),
    ModelInput("velocity:apps", "velocity", "apps", DType.INT32, 0, "Many applications"),
    ModelInput("request:amount", None, "amount", DType.FLOAT64, None, "Amount is too high"),
)


def stored(fico: FeatureValue, bankrupt: FeatureValue, apps: FeatureValue) -> dict[str, FeatureValue]:
    return {"bureau:fico": fico, "bureau:bankrupt": bankrupt, "velocity:apps": apps}


PRESENT = FeatureValue(640, FeatureStatus.PRESENT, NOW)
STALE = FeatureValue(3, FeatureStatus.OUTSIDE_MAX_AGE, NOW)
ABSENT = FeatureValue(None, FeatureStatus.NOT_FOUND, None)


def test_present_values_and_request_values_are_scored_as_numbers() -> None:
    vector = assemble_inputs(
        INPUTS,
        stored(PRESENT, FeatureValue(True, FeatureStatus.PRESENT, NOW), FeatureValue(2, FeatureStatus.PRESENT, NOW)),
        {"amount": 250.0},
        MissingPolicy.REFUSE,
    )
    assert vector.row().tolist() == [[640.0, 1.0, 2.0, 250.0]]
    assert [v.source for v in vector.values] == [ValueSource.STORE] * 3 + [ValueSource.REQUEST]
    assert vector.unusable == ()
    assert not must_refuse(vector, MissingPolicy.REFUSE)


def test_use_default_fills_missing_and_stale_values_with_the_feature_default_or_nan() -> None:
    vector = assemble_inputs(INPUTS, stored(ABSENT, ABSENT, STALE), {"amount": 10.0}, MissingPolicy.USE_DEFAULT)
    fico, bankrupt, apps, _ = vector.values
    assert math.isnan(fico.value)
    assert fico.source is ValueSource.MISSING
    assert (bankrupt.value, bankrupt.source) == (0.0, ValueSource.DEFAULT)
    assert (apps.value, apps.source, apps.status) == (0.0, ValueSource.DEFAULT, FeatureStatus.OUTSIDE_MAX_AGE)
    assert vector.unusable == ("bureau:fico", "bureau:bankrupt", "velocity:apps")
    assert not must_refuse(vector, MissingPolicy.USE_DEFAULT)
    assert fico.as_record() == {"value": None, "source": "missing", "status": "NOT_FOUND", "event_time": None}


def test_refuse_policy_refuses_on_any_missing_or_stale_value() -> None:
    vector = assemble_inputs(INPUTS, stored(PRESENT, PRESENT, STALE), {"amount": 10.0}, MissingPolicy.REFUSE)
    assert vector.unusable == ("velocity:apps",)
    assert must_refuse(vector, MissingPolicy.REFUSE)


@pytest.mark.parametrize(
    ("score", "outcome"), [(0.19, Outcome.APPROVE), (0.2, Outcome.DECLINE), (0.9, Outcome.DECLINE)]
)
def test_decline_at_or_above_the_threshold(score: float, outcome: Outcome) -> None:
    assert decide(score, 0.2) is outcome


def test_reason_codes_are_the_largest_positive_contributions_in_order() -> None:
    vector = assemble_inputs(INPUTS, stored(PRESENT, PRESENT, PRESENT), {"amount": 900.0}, MissingPolicy.REFUSE)
    explanation = Explanation(np.array([0.4, -0.3, 0.1, 0.4]), -1.0)
    reasons = reason_codes(INPUTS, vector, explanation, 3)
    assert [(r.feature, r.contribution, r.phrase) for r in reasons] == [
        ("bureau:fico", 0.4, "Credit score is too low"),
        ("request:amount", 0.4, "Amount is too high"),
        ("velocity:apps", 0.1, "Many applications"),
    ]
    assert reasons[1].value == 900.0
    assert reason_codes(INPUTS, vector, explanation, 10)[-1].feature == "velocity:apps"
    assert reason_codes(INPUTS, vector, explanation, 0) == ()


def test_reason_codes_of_a_real_model_agree_with_its_score(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    write_xgboost(path, len(INPUTS))
    model = load_model(Framework.XGBOOST, "model.json", path.read_bytes())
    rows, _ = training_data(len(INPUTS), seed=9)
    for row in rows[:10]:
        values = {"bureau:fico": row[0], "bureau:bankrupt": row[1], "velocity:apps": row[2]}
        vector = assemble_inputs(
            INPUTS,
            {ref: FeatureValue(float(v), FeatureStatus.PRESENT, NOW) for ref, v in values.items()},
            {"amount": float(row[3])},
            MissingPolicy.REFUSE,
        )
        explanation = model.explain(vector.row())
        reasons = reason_codes(INPUTS, vector, explanation, 4)
        contributions = [r.contribution for r in reasons]
        assert contributions == sorted(contributions, reverse=True)
        assert all(c > 0 for c in contributions)
        assert sigmoid(explanation.margin) == pytest.approx(float(model.score(vector.row())[0]), abs=1e-5)
