"""The wire format, version 1: byte-exact, so every reader and writer agrees across releases."""

from __future__ import annotations

import re
import zlib
from datetime import UTC, datetime

import pytest

from mlplat.online_store import FeatureValueError, coerce
from mlplat.online_store.codec import HEADER, WireFormat, micros
from mlplat.spec.types import DType
from tests.online_specs import online_test_catalog

WIRE = WireFormat(online_test_catalog(), "ns")
EVENT = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def test_a_blob_is_byte_for_byte_format_v1() -> None:
    codec = WIRE.codec("merchant_stats")  # orders_7d int64, chargeback_rate float64

    blob = codec.encode(micros(EVENT), {"orders_7d": 5})

    assert blob.hex() == (
        "01"  # format version
        + f"{micros(EVENT):016x}"  # event time, µs
        + f"{codec.fingerprint:08x}"  # schema fingerprint
        + "02"  # null bitmap, an integer: bit 1 (chargeback_rate) is null
        + "0000000000000005"  # orders_7d
        + "0000000000000000"  # chargeback_rate (null)
    )
    assert codec.decode(blob) == (micros(EVENT), [5, None])
    assert codec.fingerprint == zlib.crc32(b"orders_7d:int64,chargeback_rate:float64")


def test_strings_and_bytes_follow_the_fixed_part() -> None:
    codec = WIRE.codec("typed")
    blob = codec.encode(0, {"label": "é", "blob": b"\x00"})

    assert blob.endswith(bytes.fromhex("00000002c3a9" + "0000000100"))
    assert len(blob) == HEADER.size + 1 + (1 + 4 + 8 + 4 + 8 + 8) + 6 + 5


def test_a_blob_of_another_schema_or_version_reads_as_missing() -> None:
    blob = WIRE.codec("merchant_stats").encode(0, {"orders_7d": 5})

    assert WIRE.codec("typed").decode(blob) is None
    assert WIRE.codec("merchant_stats").decode(b"\x02" + blob[1:]) is None
    assert WIRE.codec("merchant_stats").decode(b"") is None


def test_keys_put_the_entity_in_the_hash_tag_and_escape_it() -> None:
    assert WIRE.key(WIRE.codec("typed"), ("a1",)) == "ns:typed:{a1}"
    assert WIRE.key(WIRE.codec("typed"), ("x}{|:%",)) == "ns:typed:{x%7D%7B%7C%3A%25}"
    assert WIRE.key(WIRE.codec("pair_stats"), ("a-1", -7)) == "ns:pair_stats:{a-1|-7}"


@pytest.mark.parametrize(
    ("dtype", "value", "stored"),
    [
        (DType.BOOL, True, True),
        (DType.INT32, 7, 7),
        (DType.FLOAT32, 3, 3.0),
        (DType.FLOAT64, 2.5, 2.5),
        (DType.STRING, "x", "x"),
        (DType.BYTES, bytearray(b"x"), b"x"),
        (DType.TIMESTAMP, EVENT, EVENT),
        (DType.INT64, None, None),
    ],
)
def test_coerce_accepts_values_of_the_dtype(dtype: DType, value: object, stored: object) -> None:
    assert coerce(dtype, value) == stored


def test_coerce_accepts_numpy_scalars() -> None:
    np = pytest.importorskip("numpy")

    assert coerce(DType.INT32, np.int32(3)) == 3
    assert coerce(DType.FLOAT32, np.float32(0.5)) == 0.5
    assert coerce(DType.BOOL, np.bool_(True)) is True


@pytest.mark.parametrize(
    ("dtype", "value", "message"),
    [
        (DType.BOOL, "true", "is not a bool"),
        (DType.INT32, True, "is not an integer"),
        (DType.INT32, 1.5, "is not an integer"),
        (DType.INT64, 2**63, "does not fit in int64"),
        (DType.FLOAT32, 1e39, "out of range"),
        (DType.FLOAT64, "1", "is not a number"),
        (DType.STRING, b"x", "is not a string"),
        (DType.BYTES, "x", "is not bytes"),
        (DType.TIMESTAMP, "2026-01-01", "is not a timezone-aware datetime"),
        (DType.TIMESTAMP, datetime(2026, 1, 1), "has no timezone"),
    ],
)
def test_coerce_refuses_other_values(dtype: DType, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        coerce(dtype, value)


def test_namespace_must_be_a_plain_word() -> None:
    with pytest.raises(FeatureValueError, match=re.escape("namespace 'a:{b}' is not valid")):
        WireFormat(online_test_catalog(), "a:{b}")
