"""Request bodies decode into their typed models in one pass; every refusal names the field."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import pytest

from services.errors import RequestError
from services.field_types import Float32, Int32, Int64, KeyString, Scalar
from services.request_body import count_keys, decode


class Keys(msgspec.Struct, forbid_unknown_fields=True):
    applicant_id: KeyString
    merchant_id: Int64


class Values(msgspec.Struct, forbid_unknown_fields=True):
    instalments: Int32
    rate: Float32


class Decision(msgspec.Struct, forbid_unknown_fields=True):
    entities: Keys
    values: Values | msgspec.UnsetType = msgspec.UNSET
    rows: dict[str, list[Scalar]] | msgspec.UnsetType = msgspec.UNSET
    extra: Annotated[list[Any], msgspec.Meta(max_length=8)] | msgspec.UnsetType = msgspec.UNSET


DECODER = msgspec.json.Decoder(Decision)
GOOD = b'{"entities": {"applicant_id": "a-1", "merchant_id": 7}, "values": {"instalments": 4, "rate": 0.5}}'


def refusal(raw: bytes) -> tuple[str, str, int]:
    with pytest.raises(RequestError) as raised:
        decode(raw, DECODER)
    error = raised.value
    return error.field, str(error).removeprefix(f"{error.field}: "), error.http_status


def test_a_good_body_decodes_into_its_type() -> None:
    decision = decode(GOOD, DECODER)
    assert decision.entities == Keys("a-1", 7)
    assert decision.values == Values(4, 0.5)


@pytest.mark.parametrize(
    ("raw", "field", "problem"),
    [
        (
            b'{"entities": {"applicant_id": "a", "merchant_id": 1}, "pad": "x"}',
            "pad",
            "is not a field of this request; use one of entities, values, rows, extra",
        ),
        (b'{"entities": {"applicant_id": "a"}}', "entities.merchant_id", "is required"),
        (
            b'{"entities": {"applicant_id": 5, "merchant_id": 1}}',
            "entities.applicant_id",
            "must be a string; got an integer",
        ),
        (
            b'{"entities": {"applicant_id": "", "merchant_id": 1}}',
            "entities.applicant_id",
            "must be a string of length >= 1",
        ),
        (
            b'{"entities": {"applicant_id": "a", "merchant_id": 1}, "values": {"instalments": 1000000000000, "rate": 1}}',
            "values.instalments",
            "must be an integer <= 2147483647",
        ),
        (
            b'{"entities": {"applicant_id": "a", "merchant_id": 1}, "values": {"instalments": 1e12, "rate": 1}}',
            "values.instalments",
            "must be an integer; got a number",
        ),
        (
            b'{"entities": {"applicant_id": "a", "merchant_id": 1}, "values": {"instalments": 1, "rate": 1e39}}',
            "values.rate",
            "must be a number <= 3.4028234663852886e+38",
        ),
        (
            b'{"entities": {"applicant_id": "a", "merchant_id": 99999999999999999999999999999}}',
            "entities.merchant_id",
            "must be an integer <= 9223372036854775807",
        ),
        (
            b'{"entities": {"applicant_id": "a", "merchant_id": 1}, "values": {"instalments": 1, "rate": 1e400}}',
            "values.rate",
            "Number out of range",
        ),
        (
            b'{"entities": {"applicant_id": "a", "merchant_id": 1}, "extra": [' + b"1," * 9 + b"1]}",
            "extra",
            "must be a list of length <= 8",
        ),
        (b"[]", "body", "must be an object; got a list"),
    ],
)
def test_values_out_of_bounds_are_422_naming_the_field(raw: bytes, field: str, problem: str) -> None:
    assert refusal(raw) == (field, problem, 422)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"{not json", "is not valid JSON"),
        (b'{"entities": {"applicant_id": "a", "merchant_id": NaN}}', "is not valid JSON"),
        (b'{"entities": {"applicant_id": "a", "merchant_id": Infinity}}', "is not valid JSON"),
        (
            b'{"entities": {"applicant_id": "a", "merchant_id": 1}, "extra": ['
            + b"[" * 100_000
            + b"]" * 100_000
            + b"]}",
            "is nested too deeply",
        ),
        (b"", "is not valid JSON"),
    ],
)
def test_bodies_that_are_not_json_are_400(raw: bytes, problem: str) -> None:
    field, message, status = refusal(raw)
    assert (field, status) == ("body", 400)
    assert message.startswith(problem)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"entities": {"applicant_id": "a", "merchant_id": 1, "merchant_id": 2}}',
        b'{"entities": {"applicant_id": "a", "merchant_id": 1}, "entities": {"applicant_id": "b", "merchant_id": 1}}',
        b'{"entities" : {"applicant_id" : "a", "merchant_id" : 1, "merchant_id"\n: 2}}',
        b'{"entities": {"applicant_id": "a", "merchant_id": 1}, "rows": {"x": [1], "x": [2]}}',
    ],
    ids=["in a struct", "at the top", "with whitespace", "in a map"],
)
def test_a_key_sent_twice_is_refused(raw: bytes) -> None:
    field, message, status = refusal(raw)
    assert status == 422
    assert message == "appears twice in one object; send each key once"
    assert field in {"merchant_id", "entities", "x"}


def test_strings_that_look_like_keys_are_not_mistaken_for_duplicates() -> None:
    raw = b'{"entities": {"applicant_id": "a\\": \\"b\\":", "merchant_id": 1}, "rows": {"x": ["\\":", "y\\" :"]}}'
    decision = decode(raw, DECODER)
    assert decision.entities.applicant_id == 'a": "b":'
    assert decision.rows == {"x": ['":', 'y" :']}


def test_the_key_count_never_exceeds_the_keys_sent() -> None:
    assert count_keys(decode(GOOD, DECODER)) == 6
    sparse = decode(b'{"entities": {"applicant_id": "a", "merchant_id": 1}}', DECODER)
    assert count_keys(sparse) == 3
    mapped = decode(b'{"entities": {"applicant_id": "a", "merchant_id": 1}, "rows": {"x": [1], "y": []}}', DECODER)
    assert count_keys(mapped) == 6


def test_a_huge_unknown_field_name_is_not_echoed_whole() -> None:
    raw = b'{"entities": {"applicant_id": "a", "merchant_id": 1}, "' + b"p" * 100_000 + b'": 1}'
    field, message, _ = refusal(raw)
    assert len(field) <= 200
    assert len(message) < 1100
