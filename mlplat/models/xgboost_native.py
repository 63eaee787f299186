"""Score and explain one row through libxgboost's C API, without the Python wrapper's per-call work.

A decision scores one row and explains it: ``Booster.predict`` twice on one ``DMatrix``.
The library does that in microseconds; XGBoost's Python wrapper spends most of the
~0.3 ms (1 ms after the CPU has idled) around it: dispatching on the input type, building
JSON configurations, defining ctypes classes, copying results. Here the configurations
are built once per model and each call is three C calls (create the one-row matrix,
predict values, predict contributions) and a free.

The calls are the wrapper's own (``XGDMatrixCreateFromDense`` with the same missing value
and thread count, ``XGBoosterPredictFromDMatrix`` with the same prediction types), so
the results are the same numbers, bit for bit; ``tests/mlplat/models/test_xgboost_native.py``
checks that on both example models and reports the largest difference (zero).
"""

from __future__ import annotations

import ctypes
import json
import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

_Float = ctypes.POINTER(ctypes.c_float)
_Shape = ctypes.POINTER(ctypes.c_uint64)


class NativeError(RuntimeError):
    """libxgboost reported an error."""


def _library() -> ctypes.CDLL:
    """The libxgboost the ``xgboost`` package loaded (dlopen returns the same library)."""
    from xgboost.libpath import find_lib_path  # noqa: PLC0415 - only XGBoost models need it

    lib = ctypes.CDLL(find_lib_path()[0])
    lib.XGBGetLastError.restype = ctypes.c_char_p
    lib.XGDMatrixCreateFromDense.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
    lib.XGBoosterPredictFromDMatrix.argtypes = [
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.POINTER(_Shape),
        ctypes.POINTER(ctypes.c_uint64),
        ctypes.POINTER(_Float),
    ]
    lib.XGDMatrixFree.argtypes = [ctypes.c_void_p]
    return lib


def _prediction_config(kind: int) -> bytes:
    # kind 0: the output (probability for binary:logistic); 2: exact SHAP contributions.
    return json.dumps(
        {"type": kind, "training": False, "iteration_begin": 0, "iteration_end": 0, "strict_shape": False}
    ).encode()


class OneRowPredictor:
    """Score + exact contributions of one row of a loaded booster; safe to call from threads."""

    _MATRIX_CONFIG = json.dumps({"missing": float("nan"), "nthread": 1}).encode()
    _VALUE = _prediction_config(0)
    _CONTRIBUTIONS = _prediction_config(2)

    def __init__(self, booster: Any, n_features: int) -> None:
        self._lib = _library()
        self._booster = booster  # keeps the handle alive
        self._handle = booster.handle
        self._n = n_features

    def score_and_contributions(self, row: NDArray[np.float32]) -> tuple[float, NDArray[np.float64]]:
        """The probability and the ``n_features + 1`` contributions (the last is the bias)."""
        data = np.ascontiguousarray(row, dtype=np.float32).reshape(1, self._n)
        interface = b'{"data":[%d,true],"shape":[1,%d],"strides":null,"typestr":"<f4","version":3}' % (
            data.ctypes.data,
            self._n,
        )
        matrix = ctypes.c_void_p()
        self._check(self._lib.XGDMatrixCreateFromDense(interface, self._MATRIX_CONFIG, ctypes.byref(matrix)))
        try:
            score = self._predict(matrix, self._VALUE, 1)[0]
            contributions = self._predict(matrix, self._CONTRIBUTIONS, self._n + 1)
        finally:
            self._lib.XGDMatrixFree(matrix)
        return float(score), contributions

    def _predict(self, matrix: ctypes.c_void_p, config: bytes, size: int) -> NDArray[np.float64]:
        shape, dims, result = _Shape(), ctypes.c_uint64(), _Float()
        self._check(
            self._lib.XGBoosterPredictFromDMatrix(
                self._handle, matrix, config, ctypes.byref(shape), ctypes.byref(dims), ctypes.byref(result)
            )
        )
        total = math.prod(shape[i] for i in range(dims.value))
        if total != size:
            raise NativeError(f"libxgboost returned {total} values where {size} were expected")
        # The result lives in the library's per-thread buffer until the next call: copy it.
        values = (ctypes.c_float * size).from_address(ctypes.addressof(result.contents))
        return np.frombuffer(memoryview(values), np.float32).astype(np.float64)

    def _check(self, status: int) -> None:
        if status != 0:
            raise NativeError((self._lib.XGBGetLastError() or b"unknown error").decode())
