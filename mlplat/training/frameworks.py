"""Deterministic fitting with XGBoost and LightGBM, returning the artifact bytes in a safe format.

Predictions for evaluation come from the model re-read from those bytes, exactly as the
model server will read it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlplat.spec.kinds import Framework

Params = dict[str, bool | int | float | str]


@dataclass(frozen=True)
class Fitted:
    """A fitted model: its artifact, a scorer that reads the artifact, and gain per feature."""

    artifact: bytes
    predict: Callable[[np.ndarray], np.ndarray]
    importance: Mapping[str, float]


def _rounds(params: Params, default: int = 100) -> int:
    """``n_estimators`` (the sklearn spelling data scientists write) as the number of boosting rounds."""
    return int(params.pop("n_estimators", params.pop("num_boost_round", default)))


def xgboost_params(params: Mapping[str, bool | int | float | str], seed: int) -> tuple[Params, int]:
    """The native XGBoost parameters of a spec, pinned for determinism; and the rounds."""
    chosen: Params = dict(params)
    rounds = _rounds(chosen)
    chosen.update({"objective": "binary:logistic", "seed": seed, "nthread": 1, "tree_method": "hist"})
    chosen.setdefault("eval_metric", "auc")
    return chosen, rounds


def lightgbm_params(params: Mapping[str, bool | int | float | str], seed: int) -> tuple[Params, int]:
    """The LightGBM parameters of a spec, pinned for determinism (one thread, deterministic, row-wise); and the rounds."""
    chosen: Params = dict(params)
    rounds = _rounds(chosen)
    chosen.update(
        {
            "objective": "binary",
            "seed": seed,
            "num_threads": 1,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }
    )
    return chosen, rounds


def _fit_xgboost(features: np.ndarray, labels: np.ndarray, names: Sequence[str], params: Params, rounds: int) -> Fitted:
    import xgboost as xgb  # noqa: PLC0415 - only the framework in use is loaded

    train = xgb.DMatrix(features, label=labels, feature_names=list(names), nthread=1)
    booster = xgb.train(params, train, num_boost_round=rounds)
    artifact = bytes(booster.save_raw(raw_format="ubj"))
    loaded, predict = _xgboost_predictor(artifact, names)
    gains = loaded.get_score(importance_type="total_gain")
    importance = {}
    for name in names:
        gain = gains.get(name, 0.0)
        importance[name] = round(float(gain if isinstance(gain, float) else sum(gain)), 4)
    return Fitted(artifact, predict, importance)


def _xgboost_predictor(artifact: bytes, names: Sequence[str]) -> tuple[Any, Callable[[np.ndarray], np.ndarray]]:
    import xgboost as xgb  # noqa: PLC0415 - only the framework in use is loaded

    loaded = xgb.Booster(params={"nthread": 1})
    loaded.load_model(bytearray(artifact))

    def predict(rows: np.ndarray) -> np.ndarray:
        return np.asarray(loaded.predict(xgb.DMatrix(rows, feature_names=list(names), nthread=1)), dtype=np.float64)

    return loaded, predict


def _lightgbm_predictor(artifact: bytes) -> tuple[Any, Callable[[np.ndarray], np.ndarray]]:
    import lightgbm as lgb  # noqa: PLC0415 - only the framework in use is loaded

    loaded = lgb.Booster(model_str=artifact.decode())

    def predict(rows: np.ndarray) -> np.ndarray:
        return np.asarray(loaded.predict(rows, num_threads=1), dtype=np.float64)

    return loaded, predict


def predictor(framework: Framework, artifact: bytes, names: Sequence[str]) -> Callable[[np.ndarray], np.ndarray]:
    """How training scores rows with a model read from its artifact bytes (evaluation, verification)."""
    if framework is Framework.XGBOOST:
        return _xgboost_predictor(artifact, names)[1]
    return _lightgbm_predictor(artifact)[1]


def _fit_lightgbm(
    features: np.ndarray, labels: np.ndarray, names: Sequence[str], params: Params, rounds: int
) -> Fitted:
    import lightgbm as lgb  # noqa: PLC0415 - only the framework in use is loaded

    train = lgb.Dataset(features, label=labels, feature_name=list(names), params={"verbosity": -1})
    booster = lgb.train(params, train, num_boost_round=rounds)
    artifact = booster.model_to_string().encode()
    loaded, predict = _lightgbm_predictor(artifact)
    gains = loaded.feature_importance(importance_type="gain")
    return Fitted(artifact, predict, {name: round(float(g), 4) for name, g in zip(names, gains, strict=True)})


def fit(
    framework: Framework,
    features: np.ndarray,
    labels: np.ndarray,
    names: Sequence[str],
    params: Mapping[str, bool | int | float | str],
    seed: int,
) -> Fitted:
    """Fit ``framework`` on ``features``/``labels`` with the spec's ``params`` and ``seed``."""
    if framework is Framework.XGBOOST:
        return _fit_xgboost(features, labels, names, *xgboost_params(params, seed))
    if framework is Framework.LIGHTGBM:
        return _fit_lightgbm(features, labels, names, *lightgbm_params(params, seed))
    raise ValueError(f"no trainer for {framework}")
