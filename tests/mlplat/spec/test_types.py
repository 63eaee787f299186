"""The value types of the spec language, as tables: what each accepts, and what it says otherwise."""

from __future__ import annotations

import pickle
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from mlplat.spec.types import (
    MAX_FEATURE_NAME_LENGTH,
    MAX_NAME_LENGTH,
    CpuQuantity,
    DataUri,
    DType,
    Duration,
    FeatureName,
    LabelValue,
    MemoryQuantity,
    Name,
    Sha256,
    format_duration,
    kubernetes_name,
    parse_duration,
    parse_schedule_interval,
)

DURATION_RULE = "a whole number followed by s, m, h, d or w (e.g. '90s', '6h', '30d')"
NAME_RULE = "use lowercase letters, digits and single underscores, starting with a letter, not ending with an underscore (e.g. 'bureau_profile')"


def problem(kind: Any, value: object) -> str:
    """The message a spec author reads when ``value`` is not a ``kind``."""
    with pytest.raises(ValidationError) as caught:
        TypeAdapter(kind).validate_python(value)
    [error] = caught.value.errors(include_url=False)
    return str(error["ctx"]["error"]) if error["type"] == "value_error" else error["msg"]


# --- durations ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("6h", timedelta(hours=6)),
        ("30d", timedelta(days=30)),
        ("2w", timedelta(weeks=2)),
        (" 6h ", timedelta(hours=6)),
        ("1000000s", timedelta(seconds=1_000_000)),
    ],
)
def test_durations_accepted(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert TypeAdapter(Duration).validate_python(text) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("30 days", f"'30 days' is not a duration: write {DURATION_RULE}"),
        ("1.5h", f"'1.5h' is not a duration: write {DURATION_RULE}"),
        ("6H", f"'6H' is not a duration: write {DURATION_RULE}"),
        ("-1h", f"'-1h' is not a duration: write {DURATION_RULE}"),
        ("h", f"'h' is not a duration: write {DURATION_RULE}"),
        ("", f"'' is not a duration: write {DURATION_RULE}"),
        (6, f"6 is not a duration: write {DURATION_RULE}"),
        (None, f"None is not a duration: write {DURATION_RULE}"),
        ("0h", "'0h' is zero; write a positive duration (e.g. '6h')"),
        ("0s", "'0s' is zero; write a positive duration (e.g. '6h')"),
    ],
)
def test_durations_refused(value: object, message: str) -> None:
    assert problem(Duration, value) == message


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(seconds=90), "90s"),
        (timedelta(minutes=60), "1h"),
        (timedelta(hours=48), "2d"),
        (timedelta(days=14), "2w"),
        (timedelta(days=10), "10d"),
        (timedelta(hours=1, seconds=1), "3601s"),
    ],
)
def test_format_duration_writes_the_shortest_spelling(value: timedelta, text: str) -> None:
    assert format_duration(value) == text
    assert parse_duration(text) == value


@given(st.integers(min_value=1, max_value=10**9))
def test_format_duration_round_trips(seconds: int) -> None:
    value = timedelta(seconds=seconds)
    assert parse_duration(format_duration(value)) == value
    assert TypeAdapter(Duration).dump_python(value, mode="json") == format_duration(value)


# --- names --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "bureau_profile", "v2", "fico_score_24m", "a" * MAX_NAME_LENGTH])
def test_names_accepted(name: str) -> None:
    assert TypeAdapter(Name).validate_python(name) == name


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Bureau", f"'Bureau' is not a valid name: {NAME_RULE}"),
        ("credit-risk", f"'credit-risk' is not a valid name: {NAME_RULE}"),
        ("_risk", f"'_risk' is not a valid name: {NAME_RULE}"),
        ("risk_", f"'risk_' is not a valid name: {NAME_RULE}"),
        ("risk__model", f"'risk__model' is not a valid name: {NAME_RULE}"),
        ("1risk", f"'1risk' is not a valid name: {NAME_RULE}"),
        ("", f"'' is not a valid name: {NAME_RULE}"),
        ("a" * (MAX_NAME_LENGTH + 1), f"'{'a' * 33}' is 33 characters long; shorten it to 32 characters or fewer"),
    ],
)
def test_names_refused(name: str, message: str) -> None:
    assert problem(Name, name) == message


def test_feature_names_may_be_longer_than_object_names() -> None:
    long_name = "f" * MAX_FEATURE_NAME_LENGTH
    assert TypeAdapter(FeatureName).validate_python(long_name) == long_name
    assert problem(FeatureName, long_name + "f") == (
        f"'{long_name}f' is 65 characters long; shorten it to 64 characters or fewer"
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [("default_risk", "default-risk"), ("fraud", "fraud"), ("a_b_c2", "a-b-c2")],
)
def test_kubernetes_name(name: str, expected: str) -> None:
    assert kubernetes_name(name) == expected


@given(st.from_regex(r"[a-z][a-z0-9]{0,5}(_[a-z0-9]{1,5}){0,4}", fullmatch=True))
def test_every_valid_name_makes_a_dns_label(name: str) -> None:
    label = kubernetes_name(TypeAdapter(Name).validate_python(name))
    assert len(label) <= 63
    assert label[0].isalpha()
    assert label[-1].isalnum()
    assert set(label) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")


# --- quantities, digests, locations, labels ------------------------------------------------


@pytest.mark.parametrize("value", ["500m", "2", "0.5", "1.25", "100m"])
def test_cpu_accepted(value: str) -> None:
    assert TypeAdapter(CpuQuantity).validate_python(value) == value


@pytest.mark.parametrize("value", ["0", "0m", "2 cores", "1.2345", "-1", "", "500M"])
def test_cpu_refused(value: str) -> None:
    assert problem(CpuQuantity, value) == (f"{value!r} is not a CPU quantity: write millicores ('500m') or cores ('2')")


@pytest.mark.parametrize("value", ["512Mi", "2Gi", "1024Ki"])
def test_memory_accepted(value: str) -> None:
    assert TypeAdapter(MemoryQuantity).validate_python(value) == value


@pytest.mark.parametrize("value", ["512MB", "0Mi", "1.5Gi", "Mi", "512", "2gi"])
def test_memory_refused(value: str) -> None:
    assert problem(MemoryQuantity, value) == f"{value!r} is not a memory quantity: write e.g. '512Mi' or '2Gi'"


def test_sha256() -> None:
    digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    assert TypeAdapter(Sha256).validate_python(digest) == digest
    for bad in (digest.upper(), digest[:-1], digest + "0", "sha256:" + digest):
        assert problem(Sha256, bad) == (
            f"{bad!r} is not a sha256 digest: write 64 lowercase hex characters, "
            "as printed by `sha256sum` or `mlplat train`"
        )


@pytest.mark.parametrize(
    "uri", ["s3://offline-bucket/bureau/", "s3://a.b-c/key.parquet", "bureau.parquet", "dir/sub/file.txt"]
)
def test_data_uri_accepted(uri: str) -> None:
    assert TypeAdapter(DataUri).validate_python(uri) == uri


@pytest.mark.parametrize(
    "uri", ["/etc/passwd", "../up.parquet", "a/../../b", "s3://Bucket/key", "s3://bucket", "has space", "file:///x"]
)
def test_data_uri_refused(uri: str) -> None:
    assert problem(DataUri, uri) == (
        f"{uri!r} is not a data location: write an s3://bucket/key URI, or a relative path without '..' "
        "(resolved under the environment's root)"
    )


@pytest.mark.parametrize("value", ["credit", "team.risk", "A-1", "x" * 63])
def test_labels_accepted(value: str) -> None:
    assert TypeAdapter(LabelValue).validate_python(value) == value


@pytest.mark.parametrize("value", ["credit risk", "-a", "a-", "", "x" * 64, "a/b"])
def test_labels_refused(value: str) -> None:
    assert problem(LabelValue, value) == (
        f"{value!r} is not a Kubernetes label key or value: use at most 63 letters, digits, "
        "'-', '_' or '.', starting and ending with a letter or digit"
    )


@pytest.mark.parametrize(
    ("dtype", "numeric"),
    [
        (DType.BOOL, True),
        (DType.INT32, True),
        (DType.INT64, True),
        (DType.FLOAT32, True),
        (DType.FLOAT64, True),
        (DType.STRING, False),
        (DType.BYTES, False),
        (DType.TIMESTAMP, False),
    ],
)
def test_which_dtypes_a_model_can_score(dtype: DType, numeric: bool) -> None:
    assert dtype.is_numeric is numeric


@pytest.mark.parametrize("text", ["7d", "1w", "168h", "90s", "14d"])
def test_durations_print_as_written(text: str) -> None:
    parsed = TypeAdapter(Duration).validate_python(text)
    assert TypeAdapter(Duration).dump_python(parsed, mode="json") == text
    assert format_duration(parsed) == text


def test_written_durations_compare_by_length_of_time() -> None:
    assert parse_duration("7d") == parse_duration("1w")
    assert pickle.loads(pickle.dumps(parse_duration("7d"))) == timedelta(days=7)


@pytest.mark.parametrize(
    ("text", "fits"), [("90s", False), ("30s", False), ("60s", True), ("120s", True), ("15m", True), ("1d", True)]
)
def test_schedule_intervals_are_whole_minutes(text: str, fits: bool) -> None:
    if fits:
        assert parse_schedule_interval(text) == parse_duration(text)
        return
    with pytest.raises(ValueError, match=rf"'{text}' cannot be scheduled: runs repeat in whole minutes"):
        parse_schedule_interval(text)
