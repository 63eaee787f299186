"""The online store's wire format, version 1: keys, value blobs, freshness.

Both backends store the same thing: one value per (namespace, view, entity key), a
binary blob holding the event time and every feature of the view, encoded by the
feature's declared dtype (``docs/online-store.md`` is the reference). Everything here
is pure: it turns rows into (key, event time, expiry, blob) and blobs back into
:class:`FeatureValue` s, so the Redis and SQLite backends differ only in I/O.

Layout of a blob (all integers big-endian)::

    u8   format version (1)
    i64  event time, microseconds since the Unix epoch (UTC)
    u32  schema fingerprint: crc32 of the view's "name:dtype" list
    ...  null bitmap: an unsigned integer of ceil(features / 8) bytes; bit i (value
         2**i) set means the feature at storage position i is null
    ...  the fixed-width features in declaration order (bool ?, int32 i, int64 q,
         float32 f, float64 d, timestamp q as microseconds), nulls written as 0
    ...  then each string/bytes feature in declaration order: u32 length + bytes (UTF-8)

Storage positions: the fixed-width features first, then strings and bytes.
"""

from __future__ import annotations

import math
import operator
import re
import struct
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache, partial
from urllib.parse import quote

from mlplat.catalog import Catalog, JoinKey
from mlplat.diagnostics import did_you_mean, one_of
from mlplat.errors import MlplatError, NotFoundError
from mlplat.online_store.base import EntityKey, FeatureStatus, ReadRequest, ReadResult, Row, ViewStatus
from mlplat.point_in_time import is_fresh
from mlplat.spec.kinds import FeatureView
from mlplat.spec.types import DType, JoinKeyType

FORMAT_VERSION = 1
#: Header: version, event time (µs), schema fingerprint.
HEADER = struct.Struct(">BqI")
#: A stale value stays readable (as OUTSIDE_MAX_AGE) for ``ttl * GRACE_FACTOR`` more, then expires.
GRACE_FACTOR = 1
NAMESPACE_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
#: Key values made only of these characters are stored as they are; others are percent-encoded.
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.@\-]+")

_FIXED_CODES = {
    DType.BOOL: "?",
    DType.INT32: "i",
    DType.INT64: "q",
    DType.FLOAT32: "f",
    DType.FLOAT64: "d",
    DType.TIMESTAMP: "q",
}
_INT_RANGES = {DType.INT32: (-(2**31), 2**31 - 1), DType.INT64: (-(2**63), 2**63 - 1)}
_LENGTH = struct.Struct(">I")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class FeatureValueError(MlplatError):
    """A value, row or entity key does not fit what the catalog declares."""

    http_status = 422
    public_message = "invalid feature value"


def micros(moment: datetime) -> int:
    """Microseconds since the epoch of a timezone-aware ``moment``."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise FeatureValueError(f"{moment.isoformat()!r} has no timezone; write timezone-aware UTC times")
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    """The UTC datetime ``value`` microseconds after the epoch."""
    return _EPOCH + timedelta(0, 0, value)  # positional: a third faster than microseconds=


# --- values -----------------------------------------------------------------------------


def coerce(dtype: DType, value: object) -> object:
    """``value`` as the Python type stored for ``dtype``; ValueError says what was expected.

    Accepts what Python, NumPy, Arrow and JSON produce: ints for ints (bools are not
    ints here), ints or floats for floats, aware datetimes for timestamps; None is null.
    """
    return None if value is None else _COERCERS[dtype](value)


def _to_bool(value: object) -> bool:
    if isinstance(value, bool) or getattr(getattr(value, "dtype", None), "kind", None) == "b":
        return bool(value)
    raise ValueError(f"{value!r} is not a bool")


def _int_coercer(dtype: DType) -> Callable[[object], int]:
    low, high = _INT_RANGES[dtype]

    def to_int(value: object) -> int:
        if type(value) is int:
            number = value
        elif isinstance(value, bool):
            raise ValueError(f"{value!r} is not an integer")
        else:
            try:
                number = operator.index(value)  # type: ignore[arg-type]
            except TypeError:
                raise ValueError(f"{value!r} is not an integer") from None
        if not low <= number <= high:
            raise ValueError(f"{number} does not fit in {dtype.value}")
        return number

    return to_int


def _float_coercer(limit: float) -> Callable[[object], float]:
    def to_float(value: object) -> float:
        if type(value) is float or type(value) is int:
            number = float(value)
        elif isinstance(value, bool | str | bytes):
            raise ValueError(f"{value!r} is not a number")
        else:
            try:
                number = float(value)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise ValueError(f"{value!r} is not a number") from None
        if abs(number) > limit and math.isfinite(number):
            raise ValueError(f"{value!r} is out of range")
        return number

    return to_float


def _to_string(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a string")
    return value


def _to_bytes(value: object) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise ValueError(f"{value!r} is not bytes")
    return bytes(value)


def _to_timestamp(value: object) -> datetime:
    if not isinstance(value, datetime):
        raise ValueError(f"{value!r} is not a timezone-aware datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{value.isoformat()!r} has no timezone")
    return value


_COERCERS: dict[DType, Callable[[object], object]] = {
    DType.BOOL: _to_bool,
    DType.INT32: _int_coercer(DType.INT32),
    DType.INT64: _int_coercer(DType.INT64),
    DType.FLOAT32: _float_coercer(3.4028234663852886e38),
    DType.FLOAT64: _float_coercer(math.inf),
    DType.STRING: _to_string,
    DType.BYTES: _to_bytes,
    DType.TIMESTAMP: _to_timestamp,
}


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one per view
class ViewCodec:
    """Encodes and decodes the blobs of one feature view.

    Values are stored in *storage order*: the fixed-width features first, then the
    strings and bytes, each group in declaration order; ``index`` maps a feature's
    name to its storage position, so decoding needs no reordering.
    """

    name: str
    features: tuple[str, ...]  # in storage order
    dtypes: tuple[DType, ...]  # in storage order
    index: Mapping[str, int]
    fingerprint: int
    fixed: struct.Struct
    leading: struct.Struct  # header, null bitmap and fixed-width values: one unpack
    timestamps: tuple[int, ...]  # storage positions of timestamp features
    ttl_micros: int
    join_keys: tuple[JoinKey, ...]

    @classmethod
    def of(cls, view: FeatureView, join_keys: tuple[JoinKey, ...]) -> ViewCodec:
        declared = [(f.name, f.dtype) for f in view.spec.features]
        signature = ",".join(f"{name}:{dtype.value}" for name, dtype in declared)
        fixed = [(n, d) for n, d in declared if d in _FIXED_CODES]
        stored = fixed + [(n, d) for n, d in declared if d not in _FIXED_CODES]
        fixed_codes = "".join(_FIXED_CODES[d] for _, d in fixed)
        bitmap_size = (len(declared) + 7) // 8
        return cls(
            name=view.metadata.name,
            features=tuple(n for n, _ in stored),
            dtypes=tuple(d for _, d in stored),
            index={n: i for i, (n, _) in enumerate(stored)},
            fingerprint=zlib.crc32(signature.encode()),
            fixed=struct.Struct(">" + fixed_codes),
            leading=struct.Struct(HEADER.format + f"{bitmap_size}s" + fixed_codes),
            timestamps=tuple(i for i, (_, d) in enumerate(stored) if d is DType.TIMESTAMP),
            ttl_micros=int(view.spec.ttl.total_seconds() * 1_000_000),
            join_keys=join_keys,
        )

    @property
    def fixed_count(self) -> int:
        return len(self.fixed.format) - 1

    @property
    def bitmap_size(self) -> int:
        return (len(self.features) + 7) // 8

    def encode(self, event_micros: int, values: Mapping[str, object]) -> bytes:
        """The blob of one row; :class:`FeatureValueError` names a bad or unknown feature."""
        index = self.index
        for name in values:
            if name not in index:
                names = list(self.features)
                raise FeatureValueError(
                    f"view {self.name!r} has no feature {name!r}; it has {one_of(names)}{did_you_mean(name, names)}"
                )
        typed = [self._typed(name, dtype, values.get(name)) for name, dtype in zip(self.features, self.dtypes)]  # noqa: B905 - equal by construction
        nulls = 0
        for i, value in enumerate(typed):
            if value is None:
                nulls |= 1 << i
        fixed_count = self.fixed_count
        fixed = [False if v is None else v for v in typed[:fixed_count]]
        for i in self.timestamps:
            if typed[i] is not None:
                fixed[i] = micros(typed[i])  # type: ignore[arg-type]
        parts = [
            HEADER.pack(FORMAT_VERSION, event_micros, self.fingerprint),
            nulls.to_bytes(self.bitmap_size, "big"),
            self.fixed.pack(*fixed),
        ]
        for value in typed[fixed_count:]:
            data = value.encode() if isinstance(value, str) else value if isinstance(value, bytes) else b""
            parts.append(_LENGTH.pack(len(data)))
            parts.append(data)
        return b"".join(parts)

    def _typed(self, name: str, dtype: DType, value: object) -> object:
        if value is None:
            return None
        try:
            return _COERCERS[dtype](value)
        except ValueError as error:
            raise FeatureValueError(f"{self.name}:{name} ({dtype.value}): {error}") from None

    def decode(self, blob: bytes) -> tuple[int, list[object]] | None:
        """(event time in µs, values in storage order), or None for a blob of another format or schema."""
        if len(blob) < self.leading.size:
            return None
        version, event_micros, fingerprint, bitmap, *values = self.leading.unpack_from(blob)
        if version != FORMAT_VERSION or fingerprint != self.fingerprint:
            return None
        nulls = int.from_bytes(bitmap, "big")
        offset = self.leading.size
        for dtype in self.dtypes[len(values) :]:
            (length,) = _LENGTH.unpack_from(blob, offset)
            offset += _LENGTH.size
            data = blob[offset : offset + length]
            offset += length
            values.append(data.decode() if dtype is DType.STRING else data)
        for i in self.timestamps:
            values[i] = from_micros(values[i])
        if nulls:
            for i in range(len(values)):
                if nulls >> i & 1:
                    values[i] = None
        return event_micros, values


# --- keys and the whole format -----------------------------------------------------------


@dataclass(frozen=True)
class Encoded:
    """One row ready to store: its key, event time and expiry (µs since the epoch) and blob."""

    key: str
    event_micros: int
    expires_micros: int
    blob: bytes


class WireFormat:
    """Keys and blobs of every online view of a catalog, under one namespace.

    A key is ``<namespace>:<view>:{<entity key>}``; the braces make the entity key the
    Redis Cluster hash tag, so every view of one entity lives in one slot.
    """

    def __init__(self, catalog: Catalog, namespace: str) -> None:
        if not NAMESPACE_RE.fullmatch(namespace):
            raise FeatureValueError(f"namespace {namespace!r} is not valid: use 1-64 letters, digits, '_', '.' or '-'")
        self.namespace = namespace
        self.views: dict[str, ViewCodec] = {
            name: ViewCodec.of(view, catalog.join_keys(name))
            for name, view in catalog.feature_views.items()
            if view.spec.online
        }
        #: (view, features) pairs already checked; requests built from a plan repeat them.
        self._checked: set[tuple[str, tuple[str, ...]]] = set()
        self._key_makers = {name: self._key_maker(codec) for name, codec in self.views.items()}

    def codec(self, view: str) -> ViewCodec:
        """The codec of online ``view``; :class:`NotFoundError` lists the online views."""
        try:
            return self.views[view]
        except KeyError:
            names = list(self.views)
            raise NotFoundError(
                f"online feature view {view!r} does not exist; defined: {one_of(names)}{did_you_mean(view, names)}"
            ) from None

    def key(self, codec: ViewCodec, entity: EntityKey) -> str:
        """The storage key of ``entity`` in the view of ``codec``."""
        if len(entity) != len(codec.join_keys):
            expected = ", ".join(k.request_key for k in codec.join_keys)
            raise FeatureValueError(
                f"view {codec.name!r} is keyed by ({expected}); got a key of {len(entity)} value(s): {entity!r}"
            )
        if len(entity) == 1:
            return f"{self.namespace}:{codec.name}:{{{_key_part(codec.join_keys[0], entity[0])}}}"
        parts = [_key_part(join_key, value) for join_key, value in zip(codec.join_keys, entity, strict=True)]
        return f"{self.namespace}:{codec.name}:{{{'|'.join(parts)}}}"

    def status_key(self, what: str) -> str:
        """Key of the namespace's view-status record ``what`` (``newest``, ``runs``).

        ``_status`` cannot be a view name (names start with a letter), so it never meets a row key.
        """
        return f"{self.namespace}:_status:{what}"

    def encode_rows(self, view: str, rows: Sequence[Row]) -> list[Encoded]:
        """Every row of ``view`` encoded, checked against the view's dtypes and keys."""
        codec = self.codec(view)
        lifetime = codec.ttl_micros * (1 + GRACE_FACTOR)
        encoded = []
        for row in rows:
            event = micros(row.event_time)
            blob = codec.encode(event, row.values)
            encoded.append(Encoded(self.key(codec, row.key), event, event + lifetime, blob))
        return encoded

    @staticmethod
    def unexpired(encoded: Sequence[Encoded], now_micros: int) -> list[Encoded]:
        """The rows not yet past their expiry.

        A row already past it would be deleted on arrival; anything stored for its key
        is older still, so skipping it changes nothing. It does not count as applied.
        """
        return [row for row in encoded if row.expires_micros > now_micros]

    def keys(self, requests: Sequence[ReadRequest]) -> list[str]:
        """The storage key of each request, after checking its view and features exist."""
        keys = []
        checked = self._checked
        makers = self._key_makers
        for view, entity, features in requests:
            if type(features) is not tuple or (view, features) not in checked:
                self._check_features(view, features)
            keys.append(makers[view](entity))
        return keys

    def _check_features(self, view: str, features: Sequence[str]) -> None:
        codec = self.codec(view)
        index = codec.index
        for feature in features:
            if feature not in index:
                names = list(codec.features)
                raise NotFoundError(
                    f"feature '{view}:{feature}' does not exist; {view} has "
                    f"{one_of(names)}{did_you_mean(feature, names)}"
                )
        if type(features) is tuple and len(self._checked) < 4096:
            self._checked.add((view, features))

    def _key_maker(self, codec: ViewCodec) -> Callable[[EntityKey], str]:
        """:meth:`key` for one view; for a single string join key, plain values skip the general path."""
        general: Callable[[EntityKey], str] = partial(self.key, codec)
        if len(codec.join_keys) != 1 or codec.join_keys[0].type is not JoinKeyType.STRING:
            return general
        prefix = f"{self.namespace}:{codec.name}:{{"
        plain = _PLAIN_KEY.fullmatch

        def make(entity: EntityKey) -> str:
            if len(entity) == 1:
                value = entity[0]
                if type(value) is str and plain(value):
                    return prefix + value + "}"
            return general(entity)

        return make

    def results(
        self, requests: Sequence[ReadRequest], blobs: Sequence[bytes | None], now_micros: int
    ) -> list[ReadResult]:
        """What each request found, with freshness, from the blob read for its key."""
        views = self.views
        # The requests of one read share a few (view, features) pairs: resolve each once.
        readers: dict[tuple[str, int], Callable[[bytes | None, int], ReadResult]] = {}
        found = []
        for (view, _, features), blob in zip(requests, blobs, strict=True):
            reader = readers.get((view, id(features)))
            if reader is None:
                picked = features if type(features) is tuple else tuple(features)
                reader = readers[view, id(features)] = _reader(views[view], picked)
            found.append(reader(blob, now_micros))
        return found


@lru_cache(maxsize=4096)
def _picker(codec: ViewCodec, features: tuple[str, ...]) -> Callable[[list[object]], tuple[object, ...]]:
    positions = [codec.index[name] for name in features]
    if len(positions) == 1:
        (only,) = positions
        return lambda values: (values[only],)
    # itemgetter of two or more positions returns a tuple
    return operator.itemgetter(*positions)


@lru_cache(maxsize=256)
def _missing(count: int) -> ReadResult:
    return ReadResult(FeatureStatus.NOT_FOUND, None, (None,) * count)


@lru_cache(maxsize=4096)
def _reader(codec: ViewCodec, features: tuple[str, ...]) -> Callable[[bytes | None, int], ReadResult]:
    """:func:`freshness` of ``features`` of one view, as one function built once.

    For a view of fixed-width, non-timestamp features only (the common case of numeric
    features), a blob without nulls is read from its one ``unpack_from``: the values are
    picked from the unpacked fields as they are. Anything else takes :func:`freshness`.
    """
    if codec.timestamps or codec.fixed_count != len(codec.features):
        return lambda blob, now_micros: freshness(codec, features, blob, now_micros)
    unpack, size, fingerprint = codec.leading.unpack_from, codec.leading.size, codec.fingerprint
    ttl, expiry = codec.ttl_micros, codec.ttl_micros * (1 + GRACE_FACTOR)
    no_nulls = bytes(codec.bitmap_size)
    # Unpacked fields: version, event time, fingerprint, null bitmap, then the values.
    positions = [4 + codec.index[name] for name in features]
    pick: Callable[[tuple[object, ...]], object] = operator.itemgetter(*positions)
    single = len(positions) == 1
    missing = _missing(len(features))
    new = tuple.__new__
    present, stale = FeatureStatus.PRESENT, FeatureStatus.OUTSIDE_MAX_AGE

    def read(blob: bytes | None, now_micros: int) -> ReadResult:
        if blob is None or len(blob) < size:
            return missing
        fields = unpack(blob)
        if fields[3] != no_nulls or fields[0] != FORMAT_VERSION or fields[2] != fingerprint:
            return freshness(codec, features, blob, now_micros)
        event_micros = fields[1]
        age = now_micros - event_micros
        if age >= expiry:
            return missing
        values = (pick(fields),) if single else pick(fields)
        status = present if is_fresh(age, ttl) else stale
        return new(ReadResult, (status, from_micros(event_micros), values))

    return read


def freshness(codec: ViewCodec, features: Sequence[str], blob: bytes | None, now_micros: int) -> ReadResult:
    """The requested features of one stored blob, with their status as of ``now_micros``.

    As old as the ttl or older: OUTSIDE_MAX_AGE (value still given; the rule is
    :func:`mlplat.point_in_time.is_fresh`). As old as the ttl plus the grace period or older (the storage expiry, which SQLite does not enforce by itself), or a blob of
    another schema: NOT_FOUND.
    """
    decoded = None if blob is None else codec.decode(blob)
    if decoded is None:
        return _missing(len(features))
    event_micros, values = decoded
    age = now_micros - event_micros
    # The storage expiry: at age == ttl * (1 + grace) Redis has deleted the key (PXAT).
    if age >= codec.ttl_micros * (1 + GRACE_FACTOR):
        return _missing(len(features))
    status = FeatureStatus.PRESENT if is_fresh(age, codec.ttl_micros) else FeatureStatus.OUTSIDE_MAX_AGE
    picked = _picker(codec, features if isinstance(features, tuple) else tuple(features))(values)
    return ReadResult(status, from_micros(event_micros), picked)


def _key_part(join_key: JoinKey, value: object) -> str:
    if join_key.type is JoinKeyType.INT64:
        if isinstance(value, bool) or not isinstance(value, int):
            raise FeatureValueError(f"{join_key.request_key} must be an integer; got {value!r}")
        return str(value)
    if not isinstance(value, str):
        raise FeatureValueError(f"{join_key.request_key} must be a string; got {value!r}")
    return value if _PLAIN_KEY.fullmatch(value) else quote(value, safe="-_.@")


def status_of(newest: Mapping[str, int], runs: Mapping[str, int]) -> dict[str, ViewStatus]:
    """View statuses from the stored records: newest event micros by view, run counts by ``<view>:<result>``."""
    views = set(newest) | {field.rsplit(":", 1)[0] for field in runs}
    return {
        view: ViewStatus(newest.get(view), runs.get(f"{view}:succeeded", 0), runs.get(f"{view}:failed", 0))
        for view in sorted(views)
    }
