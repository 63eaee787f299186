"""Validates one YAML document against its kind and words pydantic's errors for people."""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from mlplat.diagnostics import Diagnostic, Path, did_you_mean, one_of
from mlplat.spec.kinds import API_VERSION, KINDS, SpecObject
from mlplat.yaml_reader import YamlDocument

_TYPE_WORDS = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "int_parsing": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


@dataclass(frozen=True)
class ValidDocument:
    """A document that passed its kind's checks, with where each value was written."""

    source: YamlDocument
    obj: SpecObject

    @property
    def kind(self) -> str:
        return self.obj.kind

    @property
    def name(self) -> str:
        return self.obj.metadata.name


def _describe(value: object) -> str:
    """A bad value as a message shows it: strings quoted, other types named, long ones cut."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value) if isinstance(value, str | int | float | bool) else repr(str(value))
    if len(text) > 60:
        text = text[:57] + "..."
    return text if isinstance(value, str) else f"{text} ({_yaml_type(value)})"


def _yaml_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return f"a {type(value).__name__}"


def _field_doc(model: type[BaseModel] | None, name: str) -> str:
    """The first sentence of a field's docstring, to say what a missing field is for."""
    if model is None:
        return ""
    for field_name, info in model.model_fields.items():
        if (info.alias or field_name) == name and info.description:
            first = info.description.split(". ")[0].rstrip(".").replace("``", "'")
            return f" ({first[0].lower()}{first[1:]})"
    return ""


def _unwrap_model(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside ``X | None``, ``list[X]``, ``Annotated[X, ...]``, if any."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap_model(typing.get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if origin in (list, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _unwrap_model(arg)
            if found is not None:
                return found
    return None


def _model_at(model: type[BaseModel], path: Path) -> type[BaseModel] | None:
    """The model class that validates the mapping at ``path`` below ``model``."""
    current: type[BaseModel] | None = model
    for part in path:
        if current is None:
            return None
        if isinstance(part, int):
            continue
        field = next((f for n, f in current.model_fields.items() if (f.alias or n) == part), None)
        current = _unwrap_model(field.annotation) if field is not None else None
    return current


def _field_names(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    return [field.alias or name for name, field in model.model_fields.items()]


def _enum_choices(model: type[BaseModel] | None, field: str) -> list[str]:
    if model is None:
        return []
    for name, info in model.model_fields.items():
        if (info.alias or name) == field:
            annotation = info.annotation
            for arg in (annotation, *typing.get_args(annotation)):
                if isinstance(arg, type) and issubclass(arg, Enum):
                    return [str(member.value) for member in arg]
    return []


#: Type errors where quoted text stands in for a number or a boolean.
_UNQUOTE_ERRORS = frozenset({"int_type", "int_parsing", "float_type", "float_parsing", "bool_type", "bool_parsing"})

_RANGE_WORDS = {
    "greater_than": "greater than {gt}",
    "greater_than_equal": "at least {ge}",
    "less_than": "less than {lt}",
    "less_than_equal": "at most {le}",
}

#: Errors about a key (unknown, missing, badly spelt) point at the key; others at the value.
_KEY_ERRORS = frozenset({"extra_forbidden", "missing", "invalid_key"})


def _message(kind_model: type[BaseModel], error: ErrorDetails, loc: Path) -> str:
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        accepted = _field_names(_model_at(kind_model, loc[:-1]))
        return f"unknown field {loc[-1]!r}; accepted here: {one_of(accepted)}{did_you_mean(str(loc[-1]), accepted)}"
    if kind == "missing":
        return f"required field {loc[-1]!r} is missing{_field_doc(_model_at(kind_model, loc[:-1]), str(loc[-1]))}"
    if kind == "invalid_key":
        return f"{_describe(value)} is not a field name; write field names as text"
    if kind in ("enum", "literal_error"):
        choices = _enum_choices(_model_at(kind_model, loc[:-1]), str(loc[-1])) or re.findall(
            r"'([^']*)'", str(ctx.get("expected", ""))
        )
        return f"{_describe(value)} is not accepted; use one of {one_of(choices)}{did_you_mean(str(value), choices)}"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "string_pattern_mismatch" and ":" in str(ctx.get("pattern", "")):
        return (
            f"{_describe(value)} is not a feature reference: write 'view:feature' in lowercase letters, digits "
            "and underscores (or 'request:name' for a request value)"
        )
    if kind == "string_pattern_mismatch" and str(ctx.get("pattern", "")).startswith("^v"):
        return f"{_describe(value)} is not a version label: write 'v' and a number, e.g. 'v3'"
    if kind == "string_type" and value is not None and not isinstance(value, dict | list):
        return f"expected text, got {_describe(value)}; YAML read it as {_yaml_type(value)}, so quote it"
    if kind in _UNQUOTE_ERRORS and isinstance(value, str):
        return f"expected {_TYPE_WORDS[kind]}, got text {_describe(value)}; write it without quotes"
    if kind in _TYPE_WORDS:
        return f"expected {_TYPE_WORDS[kind]}, got {_describe(value)}"
    if kind in _RANGE_WORDS:
        return f"{_describe(value)} is out of range: it must be {_RANGE_WORDS[kind].format(**ctx)}"
    if kind in ("too_short", "string_too_long"):
        return _length_message(kind, value, ctx)
    return f"{_describe(value)}: {error['msg'][0].lower()}{error['msg'][1:]}"


def _length_message(kind: str, value: object, ctx: dict[str, Any]) -> str:
    if kind == "string_too_long":
        length = f"{len(value):,} characters" if isinstance(value, str) else "too long"
        return f"is {length} long; write at most {ctx.get('max_length')} characters"
    return f"needs at least {ctx.get('min_length', 1)} item(s)"


def _header_problem(doc: YamlDocument) -> Diagnostic | None:
    value = doc.value
    if not isinstance(value, dict):
        hint = "; write each object as its own document, separated by '---' lines" if isinstance(value, list) else ""
        return Diagnostic(
            doc.location(()),
            (),
            f"a spec document must be a mapping with apiVersion, kind, metadata and spec; got {_describe(value)}{hint}",
        )
    api_version = value.get("apiVersion")
    if api_version is None:
        return Diagnostic(
            doc.location(()),
            ("apiVersion",),
            f"required field 'apiVersion' is missing; write 'apiVersion: {API_VERSION}'",
        )
    if api_version != API_VERSION:
        return Diagnostic(
            doc.value_location(("apiVersion",)),
            ("apiVersion",),
            f"{_describe(api_version)} is not supported; use {API_VERSION!r}",
        )
    kind = value.get("kind")
    if kind is None:
        return Diagnostic(
            doc.location(()), ("kind",), f"required field 'kind' is missing; use one of {one_of(list(KINDS))}"
        )
    if not isinstance(kind, str) or kind not in KINDS:
        choices = list(KINDS)
        return Diagnostic(
            doc.value_location(("kind",)),
            ("kind",),
            f"unknown kind {_describe(kind)}; use one of {one_of(choices)}{did_you_mean(str(kind), choices)}",
        )
    return None


def validate_document(doc: YamlDocument) -> tuple[ValidDocument | None, list[Diagnostic]]:
    """Check one document against its kind; every problem found, each located."""
    problem = _header_problem(doc)
    if problem is not None:
        return None, [problem]
    assert isinstance(doc.value, dict)
    kind_model = KINDS[doc.value["kind"]]
    try:
        obj = kind_model.model_validate(doc.value)
    except ValidationError as error:
        diagnostics = []
        for detail in error.errors(include_url=False):
            path: Path = tuple(detail["loc"])
            on_key = detail["type"] in _KEY_ERRORS
            if path and path[-1] == "[key]":  # a mapping key failed its type: point at the key
                path, on_key = path[:-1], True
            location = doc.location(path) if on_key else doc.value_location(path)
            diagnostics.append(Diagnostic(location, path, _message(kind_model, detail, path)))
        return None, diagnostics
    return ValidDocument(doc, obj), []


#: Kind recorded for an invalid document whose kind is missing or unknown.
UNKNOWN_KIND = ""


def raw_name(doc: YamlDocument) -> tuple[str, str] | None:
    """``(kind, name)`` of a document even when it is invalid, to avoid cascading 'unknown name' errors.

    The kind is :data:`UNKNOWN_KIND` when it is missing or misspelt: such a document
    could be meant as any kind.
    """
    value = doc.value
    if isinstance(value, dict) and isinstance(value.get("metadata"), dict):
        name = value["metadata"].get("name")
        kind = value.get("kind")
        if isinstance(name, str):
            return (kind if isinstance(kind, str) and kind in KINDS else UNKNOWN_KIND), name
    return None
