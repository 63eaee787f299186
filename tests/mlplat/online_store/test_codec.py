"""The wire format, version 1: byte-exact, so every reader and writer agrees across releases."""

from __future__ import annotations

import re
import zlib
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlplat.errors import NotFoundError
from mlplat.online_store import FeatureStatus, FeatureValueError, ReadRequest, coerce
from mlplat.online_store.codec import HEADER, WireFormat, freshness, micros
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


FEATURE_VALUES = {
    "flag": st.booleans(),
    "count32": st.integers(-(2**31), 2**31 - 1),
    "count64": st.integers(-(2**63), 2**63 - 1),
    "ratio32": st.floats(width=32, allow_nan=False),
    "amount": st.floats(allow_nan=False),
    "label": st.text(),
    "blob": st.binary(),
    "seen_at": st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)),
}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])  # a shared, busy machine
@given(
    values=st.fixed_dictionaries(
        {}, optional={name: st.none() | strategy for name, strategy in FEATURE_VALUES.items()}
    ),
    event=st.integers(-(2**62), 2**62),
)
def test_every_value_of_every_dtype_survives_a_round_trip(values: dict[str, object], event: int) -> None:
    codec = WIRE.codec("typed")

    decoded = codec.decode(codec.encode(event, values))

    assert decoded is not None
    assert decoded[0] == event
    assert {name: decoded[1][codec.index[name]] for name in codec.features} == {
        name: values.get(name) for name in codec.features
    }


# --- bulk reads: the one-unpack reader and the key makers agree with the general path ------

DAY = 86_400_000_000
STATS = WIRE.codec("merchant_stats")  # every feature fixed-width, none a timestamp: the fast reader


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    orders=st.none() | st.integers(-(2**63), 2**63 - 1),
    rate=st.none() | st.floats(allow_nan=False),
    age=st.sampled_from([0, 1, DAY - 1, DAY, DAY + 1, 2 * DAY - 1, 2 * DAY, 3 * DAY]),
    features=st.sampled_from([("orders_7d",), ("chargeback_rate",), ("chargeback_rate", "orders_7d")]),
)
def test_bulk_results_equal_freshness_of_each_blob(
    orders: int | None, rate: float | None, age: int, features: tuple[str, ...]
) -> None:
    event = micros(EVENT)
    blob = STATS.encode(event, {"orders_7d": orders, "chargeback_rate": rate})
    requests = [ReadRequest("merchant_stats", (1,), features)] * 2

    found = WIRE.results(requests, [blob, None], event + age)

    assert found == [freshness(STATS, features, blob, event + age), freshness(STATS, features, None, event + age)]


def test_bulk_results_of_a_foreign_or_short_blob_are_missing() -> None:
    blob = STATS.encode(0, {"orders_7d": 5})
    requests = [ReadRequest("merchant_stats", (1,), ["orders_7d"])] * 4
    foreign = WIRE.codec("typed").encode(0, {})

    found = WIRE.results(requests, [b"\x02" + blob[1:], blob[:10], foreign, blob], 1)

    assert [r.status for r in found] == [FeatureStatus.NOT_FOUND] * 3 + [FeatureStatus.PRESENT]
    assert found[3].values == (5,)


@settings(max_examples=300, deadline=None)
@given(value=st.text(min_size=1) | st.from_regex(r"[A-Za-z0-9_.@\-]+", fullmatch=True))
def test_bulk_keys_equal_the_key_of_each_entity(value: str) -> None:
    requests = [
        ReadRequest("typed", (value,), ("count64",)),
        ReadRequest("merchant_stats", (len(value),), ("orders_7d",)),
        ReadRequest("pair_stats", (value, -3), ["purchases"]),
    ]

    assert WIRE.keys(requests) == [
        WIRE.key(WIRE.codec("typed"), (value,)),
        WIRE.key(STATS, (len(value),)),
        WIRE.key(WIRE.codec("pair_stats"), (value, -3)),
    ]


def test_bulk_keys_check_features_and_key_types() -> None:
    with pytest.raises(NotFoundError, match="'typed:nope' does not exist"):
        WIRE.keys([ReadRequest("typed", ("a",), ("nope",))])
    with pytest.raises(FeatureValueError, match="applicant_id must be a string; got 7"):
        WIRE.keys([ReadRequest("typed", (7,), ("count64",))])
    with pytest.raises(FeatureValueError, match="keyed by"):
        WIRE.keys([ReadRequest("typed", ("a", "b"), ("count64",))])
