"""Value types of the spec language: names, durations, feature dtypes, quantities.

Each type validates and normalizes one kind of scalar so that every consumer of the
catalog (Pulumi program, services, jobs) can rely on it without checking again.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field, PlainSerializer, PlainValidator, WithJsonSchema

#: Longest object name in the spec language. Some kinds' names are limited further by the
#: AWS and Kubernetes names derived from them (a Model's by its IAM role:
#: :func:`mlplat.name_limits.name_limit`, checked by ``mlplat validate``).
MAX_NAME_LENGTH = 32
#: Longest feature name; features become column names and JSON keys, not AWS names.
MAX_FEATURE_NAME_LENGTH = 64

_NAME_RE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
_NAME_RULE = "lowercase letters, digits and single underscores, starting with a letter, not ending with an underscore"


def _check_name(value: str, limit: int) -> str:
    if not _NAME_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid name: use {_NAME_RULE} (e.g. 'bureau_profile')")
    if len(value) > limit:
        raise ValueError(f"{value!r} is {len(value)} characters long; shorten it to {limit} characters or fewer")
    return value


def _object_name(value: str) -> str:
    return _check_name(value, MAX_NAME_LENGTH)


def _feature_name(value: str) -> str:
    return _check_name(value, MAX_FEATURE_NAME_LENGTH)


Name = Annotated[
    str,
    AfterValidator(_object_name),
    WithJsonSchema(
        {"type": "string", "pattern": _NAME_RE.pattern, "maxLength": MAX_NAME_LENGTH},
    ),
]
"""Name of a spec object. Maps one to one onto Kubernetes (``_`` becomes ``-``) and AWS names."""

FeatureName = Annotated[
    str,
    AfterValidator(_feature_name),
    WithJsonSchema(
        {"type": "string", "pattern": _NAME_RE.pattern, "maxLength": MAX_FEATURE_NAME_LENGTH},
    ),
]


def kubernetes_name(name: str) -> str:
    """The DNS-1123 label form of a spec name (``default_risk`` -> ``default-risk``)."""
    return name.replace("_", "-")


_DURATION_RE = re.compile(r"^(\d+)(s|m|h|d|w)$")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_RULE = "a whole number followed by s, m, h, d or w (e.g. '90s', '6h', '30d')"


class WrittenDuration(timedelta):
    """A duration that remembers how the spec wrote it, so it prints as written (``7d``, never ``1w``).

    Arithmetic gives plain :class:`~datetime.timedelta` values; equality and hashing are
    those of the duration, so ``7d`` equals ``1w``.
    """

    written: str

    def __new__(cls, seconds: int, written: str) -> WrittenDuration:
        duration = super().__new__(cls, seconds=seconds)
        duration.written = written
        return duration

    def __reduce__(self) -> tuple[type[WrittenDuration], tuple[int, str]]:
        return (WrittenDuration, (int(self.total_seconds()), self.written))


def parse_duration(value: object) -> timedelta:
    """Parse ``30d``, ``6h``, ``15m``, ``90s`` or ``2w`` into a positive duration that keeps its spelling."""
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration: write {_DURATION_RULE}")
    match = _DURATION_RE.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"{value!r} is not a duration: write {_DURATION_RULE}")
    amount = int(match.group(1))
    if amount == 0:
        raise ValueError(f"{value!r} is zero; write a positive duration (e.g. '6h')")
    return WrittenDuration(amount * _DURATION_UNITS[match.group(2)], value.strip())


def format_duration(value: timedelta) -> str:
    """The spec spelling of ``value``: as written when it was parsed, else the shortest one."""
    if isinstance(value, WrittenDuration):
        return value.written
    seconds = int(value.total_seconds())
    for unit in ("w", "d", "h", "m"):
        size = _DURATION_UNITS[unit]
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


Duration = Annotated[
    timedelta,
    PlainValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": _DURATION_RE.pattern}),
]
"""A positive duration written as ``<n><unit>``; it prints as written."""


#: The finest schedule EventBridge Scheduler takes: ``rate(value unit)`` counts whole
#: minutes, hours or days (https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#rate-based).
SCHEDULE_GRANULARITY = timedelta(minutes=1)


def parse_schedule_interval(value: object) -> timedelta:
    """A duration a scheduled run can repeat at: whole minutes, at least one."""
    every = parse_duration(value)
    if every % SCHEDULE_GRANULARITY:
        written = format_duration(every)
        minutes = max(1, round(every / SCHEDULE_GRANULARITY))
        raise ValueError(
            f"{written!r} cannot be scheduled: runs repeat in whole minutes (the scheduler's rate() takes "
            f"minutes, hours or days); write e.g. '{minutes}m'"
        )
    return every


ScheduleInterval = Annotated[
    timedelta,
    PlainValidator(parse_schedule_interval),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": _DURATION_RE.pattern}),
]
"""A repeat interval of a schedule: a duration in whole minutes (``90s`` is refused, ``120s`` is 2m)."""


#: Longest free text (descriptions): the catalog travels in 1 MiB ConfigMaps.
MAX_TEXT_LENGTH = 4096
#: Longest reason phrase: phrases go back with every decision.
MAX_PHRASE_LENGTH = 200
#: Longest value that becomes an AWS tag value (the owner)
#: (https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html#tag-conventions).
MAX_TAG_VALUE_LENGTH = 256

Text = Annotated[str, Field(max_length=MAX_TEXT_LENGTH)]
"""Free text for people, at most :data:`MAX_TEXT_LENGTH` characters."""
Phrase = Annotated[str, Field(max_length=MAX_PHRASE_LENGTH)]
"""A short phrase returned to callers, at most :data:`MAX_PHRASE_LENGTH` characters."""
TagValue = Annotated[str, Field(max_length=MAX_TAG_VALUE_LENGTH)]
"""Text that is also tagged on AWS resources, at most :data:`MAX_TAG_VALUE_LENGTH` characters."""


class DType(StrEnum):
    """Value type of a feature, an entity join key or a request-time value."""

    BOOL = "bool"
    INT32 = "int32"
    INT64 = "int64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    STRING = "string"
    BYTES = "bytes"
    TIMESTAMP = "timestamp"

    @property
    def is_numeric(self) -> bool:
        """Whether a model can score the value as a number (bools count as 0/1)."""
        return self in _NUMERIC


_NUMERIC = frozenset({DType.BOOL, DType.INT32, DType.INT64, DType.FLOAT32, DType.FLOAT64})


class JoinKeyType(StrEnum):
    """Type of an entity's join key."""

    STRING = "string"
    INT64 = "int64"


_CPU_RE = re.compile(r"^(?:\d+m|\d+(?:\.\d{1,3})?)$")
_MEMORY_RE = re.compile(r"^\d+(?:Ki|Mi|Gi)$")


def _cpu(value: str) -> str:
    if not _CPU_RE.fullmatch(value) or value in {"0", "0m"}:
        raise ValueError(f"{value!r} is not a CPU quantity: write millicores ('500m') or cores ('2')")
    return value


def _memory(value: str) -> str:
    if not _MEMORY_RE.fullmatch(value) or int(value[:-2]) == 0:
        raise ValueError(f"{value!r} is not a memory quantity: write e.g. '512Mi' or '2Gi'")
    return value


CpuQuantity = Annotated[
    str,
    AfterValidator(_cpu),
    WithJsonSchema({"type": "string", "pattern": _CPU_RE.pattern}),
]
MemoryQuantity = Annotated[
    str,
    AfterValidator(_memory),
    WithJsonSchema({"type": "string", "pattern": _MEMORY_RE.pattern}),
]

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def _sha256(value: str) -> str:
    if not _SHA256_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a sha256 digest: write 64 lowercase hex characters, "
            "as printed by `sha256sum` or `mlplat train`"
        )
    return value


Sha256 = Annotated[
    str,
    AfterValidator(_sha256),
    WithJsonSchema({"type": "string", "pattern": _SHA256_RE.pattern}),
]

_URI_RE = re.compile(r"^(?:s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]/\S+|(?!/)(?!.*(?:^|/)\.\.(?:/|$))[^\s:]+)$")
_URI_RULE = "an s3://bucket/key URI, or a relative path without '..' (resolved under the environment's root)"


def _uri(value: str) -> str:
    if not _URI_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a data location: write {_URI_RULE}")
    return value


DataUri = Annotated[
    str,
    AfterValidator(_uri),
    WithJsonSchema({"type": "string", "pattern": _URI_RE.pattern}),
]
"""Where data lives: ``s3://bucket/key`` or a path relative to the environment's root."""

_LABEL_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.\-]{0,61}[A-Za-z0-9])?$")


def _label(value: str) -> str:
    if not _LABEL_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a Kubernetes label key or value: use at most 63 letters, digits, "
            "'-', '_' or '.', starting and ending with a letter or digit"
        )
    return value


LabelValue = Annotated[
    str,
    AfterValidator(_label),
    WithJsonSchema({"type": "string", "pattern": _LABEL_RE.pattern, "maxLength": 63}),
]
"""A Kubernetes label key (without prefix) or value."""

_DNS_LABEL_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def _dns_label(value: str) -> str:
    if not _DNS_LABEL_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a Kubernetes name: use at most 63 lowercase letters, digits or '-', "
            "starting and ending with a letter or digit (e.g. 'checkout-api')"
        )
    return value


KubernetesName = Annotated[
    str,
    AfterValidator(_dns_label),
    WithJsonSchema({"type": "string", "pattern": _DNS_LABEL_RE.pattern, "maxLength": 63}),
]
"""A Kubernetes namespace or service account name (a DNS-1123 label)."""

_LABEL_KEY_RE = re.compile(
    r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*/)?"
    r"[A-Za-z0-9](?:[A-Za-z0-9_.\-]{0,61}[A-Za-z0-9])?$"
)


def _label_key(value: str) -> str:
    prefix, _, _ = value.rpartition("/")
    if not _LABEL_KEY_RE.fullmatch(value) or len(prefix) > 253:
        raise ValueError(
            f"{value!r} is not a Kubernetes label key: an optional DNS prefix and '/', then at most 63 letters, "
            "digits, '-', '_' or '.' (e.g. 'app.kubernetes.io/name')"
        )
    return value


LabelKey = Annotated[
    str,
    AfterValidator(_label_key),
    WithJsonSchema({"type": "string", "pattern": _LABEL_KEY_RE.pattern, "maxLength": 317}),
]
"""A Kubernetes label key, prefix allowed (``app.kubernetes.io/name``)."""
