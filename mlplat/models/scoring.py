"""Trained models loaded from formats that cannot execute code, behind one scoring interface.

XGBoost (JSON or UBJ), LightGBM (text) and ONNX. Pickle and the legacy XGBoost binary
format are refused. Every model scores the probability of the bad outcome; tree models
also explain one row as per-feature contributions in margin (log-odds) space, whose sum
plus the bias is the margin of the score (SHAP values, computed by the framework).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from mlplat.models.artifacts import ArtifactError
from mlplat.models.lightgbm_native import OneRowPredictor as LightGBMOneRow
from mlplat.models.xgboost_native import OneRowPredictor as XGBoostOneRow
from mlplat.spec.kinds import Framework

Rows = NDArray[np.float32]
#: The file endings each framework's artifacts may have.
EXTENSIONS: dict[Framework, tuple[str, ...]] = {
    Framework.XGBOOST: (".json", ".ubj"),
    Framework.LIGHTGBM: (".txt",),
    Framework.ONNX: (".onnx",),
}


@dataclass(frozen=True)
class Explanation:
    """Why one row scored as it did, in margin space: ``sum(contributions) + bias == margin``."""

    contributions: NDArray[np.float64]
    bias: float

    @property
    def margin(self) -> float:
        return float(self.contributions.sum()) + self.bias


class ScoringModel(Protocol):
    """A loaded model: scores rows and, when it can, explains one."""

    framework: Framework
    n_features: int
    #: Column names stored in the artifact, or ``None`` when it carries none.
    feature_names: tuple[str, ...] | None
    #: Whether :meth:`explain` works (tree models); ONNX graphs are opaque.
    explains: bool

    def score(self, rows: Rows) -> NDArray[np.float64]:
        """Probability of the bad outcome for each row (shape ``(n,)``)."""
        ...

    def explain(self, row: Rows) -> Explanation:
        """Per-feature contributions of one row (shape ``(1, n_features)``)."""
        ...

    def score_and_explain(self, row: Rows) -> tuple[float, Explanation]:
        """:meth:`score` and :meth:`explain` of one row, sharing what they can."""
        ...


def sigmoid(margin: float) -> float:
    """The probability of a log-odds margin."""
    return 1.0 / (1.0 + math.exp(-margin))


def load_model(framework: Framework, uri: str, data: bytes) -> ScoringModel:
    """Parse verified artifact bytes; :class:`ArtifactError` names the file and the reason."""
    allowed = EXTENSIONS[framework]
    if not uri.endswith(allowed):
        raise ArtifactError(
            f"artifact {uri} is not a {framework.value} format this server loads: "
            f"expected a file ending in {' or '.join(allowed)} (pickle is never loaded)"
        )
    try:
        if framework is Framework.XGBOOST:
            return XGBoostModel.from_bytes(uri, data)
        if framework is Framework.LIGHTGBM:
            return LightGBMModel.from_bytes(uri, data)
        return OnnxModel.from_bytes(uri, data)
    except ArtifactError:
        raise
    except Exception as error:  # the frameworks raise their own (or plain) exceptions on bad files
        raise ArtifactError(f"artifact {uri} is not a valid {framework.value} model: {error}") from None


class XGBoostModel:
    """An XGBoost ``binary:logistic`` booster, scored with one thread per call."""

    framework = Framework.XGBOOST
    explains = True

    def __init__(self, booster: Any) -> None:
        self._booster = booster
        self.n_features = int(booster.num_features())
        names = booster.feature_names
        self.feature_names = tuple(names) if names else None
        self._one_row = XGBoostOneRow(booster, self.n_features)

    @classmethod
    def from_bytes(cls, uri: str, data: bytes) -> XGBoostModel:
        import xgboost  # noqa: PLC0415 - servers of other frameworks do not import it

        # JSON and UBJSON documents both open with an object marker; the legacy binary
        # format does not, and is refused rather than parsed.
        if not data.startswith(b"{"):
            raise ArtifactError(f"artifact {uri} is not XGBoost JSON or UBJ (legacy binary models are refused)")
        booster = xgboost.Booster()
        booster.load_model(bytearray(data))
        booster.set_param({"nthread": 1})
        objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
        if objective != "binary:logistic":
            raise ArtifactError(
                f"artifact {uri} has objective {objective!r}; decisions need 'binary:logistic' probabilities"
            )
        return cls(booster)

    def score(self, rows: Rows) -> NDArray[np.float64]:
        # Column names were checked against the spec once, at load (loading.check_inputs).
        return np.asarray(self._booster.inplace_predict(rows, validate_features=False), dtype=np.float64).reshape(-1)

    def explain(self, row: Rows) -> Explanation:
        return self.score_and_explain(row)[1]

    def score_and_explain(self, row: Rows) -> tuple[float, Explanation]:
        # One row through the C API: the wrapper's own calls without its per-call overhead,
        # bit-identical results (mlplat/models/xgboost_native.py).
        score, values = self._one_row.score_and_contributions(row)
        return score, Explanation(values[:-1], float(values[-1]))


class LightGBMModel:
    """A LightGBM ``binary`` booster from its text format, scored with one thread per call."""

    framework = Framework.LIGHTGBM
    explains = True

    def __init__(self, booster: Any, model_text: str) -> None:
        self._booster = booster
        self.n_features = int(booster.num_feature())
        names = tuple(booster.feature_name())
        # LightGBM names unnamed columns Column_0, Column_1, ...: that is no name at all.
        self.feature_names = None if names == tuple(f"Column_{i}" for i in range(len(names))) else names
        self._one_row = LightGBMOneRow(model_text, self.n_features)

    @classmethod
    def from_bytes(cls, uri: str, data: bytes) -> LightGBMModel:
        import lightgbm  # noqa: PLC0415 - servers of other frameworks do not import it

        text = data.decode("utf-8")
        if not text.startswith("tree\n"):
            raise ArtifactError(f"artifact {uri} is not a LightGBM text model (it must start with 'tree')")
        objective = next((line[10:] for line in text.splitlines() if line.startswith("objective=")), "")
        if not objective.startswith("binary"):
            raise ArtifactError(f"artifact {uri} has objective {objective!r}; decisions need 'binary' probabilities")
        return cls(lightgbm.Booster(model_str=text), text)

    def score(self, rows: Rows) -> NDArray[np.float64]:
        return np.asarray(self._booster.predict(rows, num_threads=1), dtype=np.float64).reshape(-1)

    def explain(self, row: Rows) -> Explanation:
        return self.score_and_explain(row)[1]

    def score_and_explain(self, row: Rows) -> tuple[float, Explanation]:
        # LightGBM's single-row C API, set up once: the same numbers as Booster.predict
        # without its per-call set-up (mlplat/models/lightgbm_native.py).
        score, values = self._one_row.score_and_contributions(row)
        return score, Explanation(values[:-1], float(values[-1]))


class OnnxModel:
    """An ONNX graph run by ONNX Runtime: one float input ``(n, features)``, probabilities out.

    The output used is the first float tensor; with two columns (class 0, class 1) the
    second is the probability of the bad outcome.
    """

    framework = Framework.ONNX
    explains = False
    feature_names: tuple[str, ...] | None = None

    def __init__(self, session: Any) -> None:
        self._session = session
        model_input = session.get_inputs()[0]
        self._input = model_input.name
        width = model_input.shape[-1] if model_input.shape else None
        self.n_features = int(width) if isinstance(width, int) else 0
        outputs = [o for o in session.get_outputs() if o.type == "tensor(float)"]
        if not outputs:
            raise ArtifactError("ONNX model has no float tensor output to read probabilities from")
        self._output = outputs[0].name

    @classmethod
    def from_bytes(cls, uri: str, data: bytes) -> OnnxModel:
        import onnxruntime  # noqa: PLC0415 - servers of other frameworks do not import it

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
        return cls(session)

    def score(self, rows: Rows) -> NDArray[np.float64]:
        (result,) = self._session.run([self._output], {self._input: rows})
        values = np.asarray(result, dtype=np.float64)
        if values.ndim == 2 and values.shape[1] == 2:
            return values[:, 1]
        return values.reshape(-1)

    def explain(self, row: Rows) -> Explanation:
        raise ArtifactError("ONNX models do not explain their scores; set decision.reasonCodes to 0 for them")

    def score_and_explain(self, row: Rows) -> tuple[float, Explanation]:
        return float(self.score(row)[0]), self.explain(row)
