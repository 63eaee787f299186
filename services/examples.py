"""Example request values per dtype, for the request examples the OpenAPI documents show."""

from __future__ import annotations

from mlplat.spec.types import DType, JoinKeyType

EXAMPLE_TIME = "2026-01-01T00:00:00Z"
_VALUES: dict[DType, object] = {
    DType.BOOL: True,
    DType.INT32: 3,
    DType.INT64: 3,
    DType.FLOAT32: 0.5,
    DType.FLOAT64: 0.5,
    DType.STRING: "web",
    DType.BYTES: "eA==",
    DType.TIMESTAMP: EXAMPLE_TIME,
}


def example_value(dtype: DType) -> object:
    """A value of ``dtype`` as a request sends it."""
    return _VALUES[dtype]


def example_key(key: JoinKeyType) -> str | int:
    """A join-key value as a request sends it."""
    return 1 if key is JoinKeyType.INT64 else "a-1"
