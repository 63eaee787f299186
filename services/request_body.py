"""Reading a request body: bounded in size, decoded into its typed request model in one pass.

Both services decode with msgspec: one C pass parses the JSON and checks every field
against the request's type (ranges, lengths, required and unknown fields), and its
errors carry the JSON path, which becomes the ``field`` of the answer. JSON lets an
object repeat a key and parsers silently keep the last one; a request that does so is
refused, because a proxy or an auditor reading the first value would see another request
than the one served.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
from starlette.requests import ClientDisconnect, Request

from services import http_limits
from services.errors import BodyTooLargeError, RequestError

T = TypeVar("T")
#: Every key ends in a quote, maybe whitespace, and a colon; a string may contain that too,
#: so this counts at least as many as the body has keys, in one C-level scan.
_KEY_END = re.compile(rb'"\s*:')
_QUOTE_SPACE = re.compile(rb'"\s')
_SCALARS = frozenset({str, int, float, bool, type(None)})
_PATH = re.compile(r" - at `\$(.*)`$")
_FIELD_NAME = re.compile(r"field `([^`]*)`")
_UNKNOWN = "is not a field of this request"
_SEGMENT = re.compile(r"[^.\[]+|\[[^\]]*\]")
_EXPECTED = re.compile(r"^Expected `([^`]+)`(?:, got `([^`]+)`)?(.*)$")
#: msgspec's type names in a client's words.
_KINDS = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "array": "a list",
    "object": "an object",
    "null": "null",
}


async def read_bounded(request: Request, limit: int) -> bytes:
    """The body, read at most ``limit`` bytes far so an oversized request costs no memory.

    A declared ``content-length`` over the limit is refused (413) before anything is
    read; otherwise the stream is counted as it arrives. A body that stops short (the
    client left, or the server's protocol gave up on it:
    :data:`services.http_limits.REQUEST_READ_SECONDS`) is a client error, 408 or 400,
    never a 5xx.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError(f"body: {declared} bytes; at most {limit}")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyTooLargeError(f"body: more than {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise _incomplete(request, size) from None
    return b"".join(chunks)


def _incomplete(request: Request, received: int) -> RequestError:
    if request.scope.get(http_limits.READ_TIMED_OUT):
        return RequestError(
            "body",
            f"{received} bytes arrived within {http_limits.REQUEST_READ_SECONDS:g} s of the request's first byte; "
            "send the whole request at once",
            408,
        )
    return RequestError("body", f"the connection closed after {received} bytes, before the body was complete", 400)


def decode(raw: bytes, decoder: msgspec.json.Decoder[T], status: int = 422) -> T:
    """``raw`` as the decoder's type; :class:`RequestError` names the field at fault.

    Malformed JSON is 400; a well-formed body that does not fit the type is ``status``.
    """
    try:
        value = decoder.decode(raw)
    except msgspec.ValidationError as error:
        field, problem = _field_of(str(error))
        if problem == _UNKNOWN:
            problem += _allowed_here(decoder.type, field)
        raise RequestError(field, problem, status) from None
    except msgspec.DecodeError as error:
        raise RequestError("body", f"is not valid JSON: {error}", 400) from None
    except RecursionError:
        raise RequestError("body", "is nested too deeply", 400) from None
    if _key_tokens(raw) > key_counter(decoder.type)(value):  # type: ignore[arg-type]
        _refuse_duplicate_keys(raw, status)
    return value


def _key_tokens(raw: bytes) -> int:
    """At least as many as the keys in ``raw``: every key ends in a quote, maybe whitespace, a colon."""
    if _QUOTE_SPACE.search(raw) is None:  # compact JSON: one C count
        return raw.count(b'":')
    return len(_KEY_END.findall(raw))


def _field_of(message: str) -> tuple[str, str]:
    """The field path and the problem of a msgspec validation message."""
    match = _PATH.search(message)
    path = match.group(1).lstrip(".") if match else ""
    problem = message[: match.start()] if match else message
    named = _FIELD_NAME.search(problem)
    if named and ("unknown field" in problem or "missing required field" in problem):
        path = f"{path}.{named.group(1)}" if path else named.group(1)
        problem = _UNKNOWN if "unknown" in problem else "is required"
    return path or "body", _in_words(problem)


def _allowed_here(kind: Any, field: str) -> str:
    """``; use one of a, b, c``: the fields of the object holding ``field``, when the type says."""
    info: msgspec.inspect.Type | None = msgspec.inspect.type_info(kind)
    for segment in _SEGMENT.findall(field)[:-1]:
        if isinstance(info, msgspec.inspect.ListType) and segment.startswith("["):
            info = info.item_type
        elif isinstance(info, msgspec.inspect.DictType) and segment.startswith("["):
            info = info.value_type
        elif isinstance(info, msgspec.inspect.StructType):
            info = next((f.type for f in info.fields if f.encode_name == segment), None)
        else:
            return ""
    if not isinstance(info, msgspec.inspect.StructType) or not info.fields:
        return ""
    names = [f.encode_name for f in info.fields]
    shown = ", ".join(names[:20]) + (f" (and {len(names) - 20} more)" if len(names) > 20 else "")
    return f"; use one of {shown}"


def _in_words(problem: str) -> str:
    """``Expected `int`, got `str``` as ``must be an integer; got a string``; bounds kept as they are."""
    match = _EXPECTED.match(problem)
    if match is None:
        return problem
    expected, got, rest = match.groups()
    wanted = " or ".join(_KINDS.get(kind.strip(), kind.strip()) for kind in expected.split("|"))
    if got is not None:
        return f"must be {wanted}; got {_KINDS.get(got, got)}"
    return f"must be {wanted}{rest}"


def count_keys(value: Any) -> int:
    """How many object keys a decoded value was surely read from (any type; see :func:`key_counter`)."""
    return key_counter(type(value))(value) if isinstance(value, msgspec.Struct) else _count_any(value)


KeyCounter = Callable[[Any], int]


@functools.cache
def key_counter(kind: Any) -> KeyCounter:
    """A function counting the object keys a decoded ``kind`` was surely read from.

    Built once per request type from its msgspec type info, so a request whose objects
    are all fixed costs one call. A struct field holding its default object itself
    (``UNSET``, or the default of an absent field) is not counted, as it may have been
    absent: the count never exceeds the truth, and a body with more key tokens than it
    is checked exactly.
    """
    counted = _counter(msgspec.inspect.type_info(kind))
    if callable(counted):
        return counted
    return functools.partial(_constant, counted)


def _constant(constant: int, value: object) -> int:
    return constant


def _counter(info: msgspec.inspect.Type) -> KeyCounter | int:
    """A constant when every value of the type has the same number of keys, else a function."""
    if isinstance(info, msgspec.inspect.StructType):
        return _struct_counter(info)
    if isinstance(info, msgspec.inspect.ListType):
        item = _counter(info.item_type)
        if not callable(item):
            return 0 if item == 0 else (lambda value: item * len(value))
        return lambda value: sum(item(v) for v in value)
    if isinstance(info, msgspec.inspect.DictType):
        entry = _counter(info.value_type)
        if not callable(entry):
            return lambda value: len(value) * (1 + entry)
        return lambda value: len(value) + sum(entry(v) for v in value.values())
    if isinstance(info, msgspec.inspect.AnyType | msgspec.inspect.UnionType):
        return _count_any
    return 0


def _struct_counter(info: msgspec.inspect.StructType) -> KeyCounter | int:
    defaults = {f.name: f.default for f in msgspec.structs.fields(info.cls)}
    fields = [(f.name, _counter(f.type), f.required) for f in info.fields]
    constants = [child for _, child, required in fields if required and not callable(child)]
    if len(constants) == len(fields):
        return sum(1 + child for child in constants)
    plan = [(name, defaults[name], child) for name, child, _ in fields]

    def count(value: Any) -> int:
        total = 0
        for name, default, child in plan:
            field = getattr(value, name)
            if field is default or field is msgspec.UNSET:
                continue
            total += 1 + (child(field) if callable(child) else child)
        return total

    return count


def _count_any(value: Any) -> int:
    kind = type(value)
    if kind in _SCALARS:
        return 0
    if isinstance(value, msgspec.Struct):
        return key_counter(kind)(value)  # type: ignore[arg-type]
    if kind is dict:
        return len(value) + sum(_count_any(v) for v in value.values())
    if kind is list:
        return sum(_count_any(v) for v in value)
    return 0


def _refuse_duplicate_keys(raw: bytes, status: int) -> None:
    """The slow, exact check, run only when the key count says an object may repeat a key."""

    def pairs(items: list[tuple[str, object]]) -> dict[str, object]:
        seen: dict[str, object] = {}
        for key, item in items:
            if key in seen:
                raise RequestError(key, "appears twice in one object; send each key once", status)
            seen[key] = item
        return seen

    try:
        json.loads(raw, object_pairs_hook=pairs)
    except (ValueError, RecursionError):
        return  # the typed decode accepted it; stdlib json is only the duplicate finder
