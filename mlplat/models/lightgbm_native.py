"""Score and explain one row through LightGBM's single-row C API, set up once per model.

``Booster.predict`` builds a predictor, converts the input and parses its parameters on
every call; for the one row of a decision that is most of the cost. LightGBM's C API has
a path made for this: ``LGBM_BoosterPredictForMatSingleRowFastInit`` prepares a
configuration once (prediction type, column count, threads), then each
``LGBM_BoosterPredictForMatSingleRowFast`` scores one row with nothing else to do.

The predictor loads its own booster from the same model text through the public C API
(``LGBM_BoosterLoadModelFromString``), so it depends on no private attribute of the
Python package. Same trees, same traversal: the results equal ``Booster.predict``'s bit
for bit, which ``tests/mlplat/models/test_lightgbm_native.py`` checks on the example
models and reports the largest difference (zero).
"""

from __future__ import annotations

import ctypes
import threading
import weakref

import numpy as np
from numpy.typing import NDArray

_PREDICT_NORMAL = 0  # C_API_PREDICT_NORMAL: the probability for a binary objective
_PREDICT_CONTRIB = 3  # C_API_PREDICT_CONTRIB: exact SHAP contributions, then the bias
_FLOAT32 = 0  # C_API_DTYPE_FLOAT32


class NativeError(RuntimeError):
    """LightGBM reported an error."""


def _library() -> ctypes.CDLL:
    """The lib_lightgbm the ``lightgbm`` package loaded (dlopen returns the same library)."""
    # lightgbm (pinned) keeps its library finder private; the tests load through it on every run.
    from lightgbm.libpath import _find_lib_path  # noqa: PLC0415 - only LightGBM models need it

    lib = ctypes.CDLL(_find_lib_path()[0])
    lib.LGBM_GetLastError.restype = ctypes.c_char_p
    lib.LGBM_BoosterLoadModelFromString.argtypes = [
        ctypes.c_char_p,
        ctypes.POINTER(ctypes.c_int),
        ctypes.POINTER(ctypes.c_void_p),
    ]
    lib.LGBM_BoosterPredictForMatSingleRowFastInit.argtypes = [
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int32,
        ctypes.c_char_p,
        ctypes.POINTER(ctypes.c_void_p),
    ]
    lib.LGBM_BoosterPredictForMatSingleRowFast.argtypes = [
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_int64),
        ctypes.POINTER(ctypes.c_double),
    ]
    lib.LGBM_FastConfigFree.argtypes = [ctypes.c_void_p]
    lib.LGBM_BoosterFree.argtypes = [ctypes.c_void_p]
    return lib


def _free(lib: ctypes.CDLL, booster: ctypes.c_void_p, configs: list[ctypes.c_void_p]) -> None:
    for config in configs:
        lib.LGBM_FastConfigFree(config)
    if booster:
        lib.LGBM_BoosterFree(booster)


class OneRowPredictor:
    """Probability + exact contributions of one row; calls from threads take turns."""

    def __init__(self, model_text: str, n_features: int) -> None:
        self._lib = _library()
        self._n = n_features
        self._booster = ctypes.c_void_p()
        self._configs: list[ctypes.c_void_p] = []
        # Frees what the library allocated for this predictor, once, when it is closed or collected.
        self.close = weakref.finalize(self, _free, self._lib, self._booster, self._configs)
        iterations = ctypes.c_int()
        self._check(
            self._lib.LGBM_BoosterLoadModelFromString(
                model_text.encode(), ctypes.byref(iterations), ctypes.byref(self._booster)
            )
        )
        self._value = self._fast_config(_PREDICT_NORMAL)
        self._contrib = self._fast_config(_PREDICT_CONTRIB)
        # A fast configuration keeps its working buffers: one row at a time per configuration.
        self._lock = threading.Lock()

    def score_and_contributions(self, row: NDArray[np.float32]) -> tuple[float, NDArray[np.float64]]:
        """The probability and the ``n_features + 1`` contributions (the last is the bias)."""
        data = np.ascontiguousarray(row, dtype=np.float32).reshape(-1)
        if data.size != self._n:
            raise NativeError(f"a row of {data.size} values for a model of {self._n} features")
        score = np.empty(1, dtype=np.float64)
        contributions = np.empty(self._n + 1, dtype=np.float64)
        with self._lock:
            self._predict(self._value, data, score)
            self._predict(self._contrib, data, contributions)
        return float(score[0]), contributions

    def _fast_config(self, predict_type: int) -> ctypes.c_void_p:
        config = ctypes.c_void_p()
        self._check(
            self._lib.LGBM_BoosterPredictForMatSingleRowFastInit(
                self._booster, predict_type, 0, -1, _FLOAT32, self._n, b"num_threads=1", ctypes.byref(config)
            )
        )
        self._configs.append(config)
        return config

    def _predict(self, config: ctypes.c_void_p, data: NDArray[np.float32], out: NDArray[np.float64]) -> None:
        written = ctypes.c_int64()
        self._check(
            self._lib.LGBM_BoosterPredictForMatSingleRowFast(
                config,
                data.ctypes.data_as(ctypes.c_void_p),
                ctypes.byref(written),
                out.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
            )
        )
        if written.value != out.size:
            raise NativeError(f"LightGBM returned {written.value} values where {out.size} were expected")

    def _check(self, status: int) -> None:
        if status != 0:
            raise NativeError((self._lib.LGBM_GetLastError() or b"unknown error").decode())
