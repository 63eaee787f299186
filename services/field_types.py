"""Bounded JSON field types (msgspec) for the values requests carry, one per dtype.

Each type refuses what its dtype cannot hold, before any handler runs: integers outside
int32/int64, numbers a float32 or float64 would turn into infinity (JSON has no NaN or
infinity, and a number too large for a double is refused by the decoder), strings longer
than a key or a value may be. Their bounds are published in the OpenAPI document too.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from mlplat.spec.types import DType, JoinKeyType

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
FLOAT32_MAX = 3.4028234663852886e38
FLOAT64_MAX = 1.7976931348623157e308
#: Longest join-key value (an id) and longest string or base64 feature value.
MAX_KEY_LENGTH = 256
MAX_STRING_LENGTH = 64 * 1024
#: Longest name of a view, feature, model, source or column in a request.
MAX_NAME_LENGTH = 256

Int32 = Annotated[int, Meta(ge=INT32_MIN, le=INT32_MAX)]
Int64 = Annotated[int, Meta(ge=INT64_MIN, le=INT64_MAX)]
Float32 = Annotated[float, Meta(ge=-FLOAT32_MAX, le=FLOAT32_MAX)]
Float64 = Annotated[float, Meta(ge=-FLOAT64_MAX, le=FLOAT64_MAX)]
KeyString = Annotated[str, Meta(min_length=1, max_length=MAX_KEY_LENGTH)]
Text = Annotated[str, Meta(max_length=MAX_STRING_LENGTH)]
Name = Annotated[str, Meta(min_length=1, max_length=MAX_NAME_LENGTH)]
#: Any scalar a feature value may be sent as; its dtype is checked against the view's.
Scalar = bool | Int64 | Float64 | Text | None

_VALUE_TYPES: dict[DType, object] = {
    DType.BOOL: bool,
    DType.INT32: Int32,
    DType.INT64: Int64,
    DType.FLOAT32: Float32,
    DType.FLOAT64: Float64,
    DType.STRING: Text,
    DType.BYTES: Text,
    DType.TIMESTAMP: Text,
}


def value_type(dtype: DType) -> object:
    """The JSON type of one value of ``dtype`` (bytes as base64 text, timestamps as ISO 8601 text)."""
    return _VALUE_TYPES[dtype]


def key_type(key: JoinKeyType) -> object:
    """The JSON type of one join-key value."""
    return Int64 if key is JoinKeyType.INT64 else KeyString
