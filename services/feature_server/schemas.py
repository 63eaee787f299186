"""The feature server's request and response types: what it decodes, and what its OpenAPI document says.

Request types follow Feast's shapes and are bounded: names and strings by length, entity
keys by their join key's type (int64 keys as integers in range, string keys as non-empty
strings), pushed values by what JSON scalars a feature may be sent as. Which views,
features and columns exist is checked against the catalog after decoding, so a wrong
name is a 404 or 422 that lists what exists.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from mlplat.catalog import Catalog
from services.feature_server.pushes import push_columns
from services.field_types import MAX_NAME_LENGTH, Name, Scalar, key_type

#: ``view:feature`` (the form is checked with the catalog, so a wrong one is told how to write it).
FeatureRef = Annotated[str, Meta(min_length=1, max_length=2 * MAX_NAME_LENGTH + 1, description="view:feature")]
#: Most features one read may ask for.
MAX_FEATURES = 1024


class Strict(Struct, forbid_unknown_fields=True, kw_only=True):
    """Request objects refuse fields they do not define (422 naming the field)."""


def entity_keys_type(catalog: Catalog) -> type[Struct]:
    """The ``entities`` object of a read: one optional column per request key of an online view."""
    keys = {}
    for name, view in catalog.feature_views.items():
        if view.spec.online:
            keys.update({key.request_key: key.type for key in catalog.join_keys(name)})
    fields = [(name, _column(key_type(kind)), UNSET) for name, kind in sorted(keys.items())]
    return msgspec.defstruct("EntityKeys", fields, bases=(Strict,))


def _column(value: Any) -> Any:
    """A non-empty list of ``value``, or absent."""
    return Annotated[list[value], Meta(min_length=1)] | UnsetType


def read_request_type(catalog: Catalog) -> type[Struct]:
    """The body of ``POST /get-online-features`` for ``catalog``."""
    return msgspec.defstruct(
        "OnlineFeaturesRequest",
        [
            ("entities", entity_keys_type(catalog)),
            ("features", Annotated[list[FeatureRef], Meta(min_length=1, max_length=MAX_FEATURES)] | UnsetType, UNSET),
            ("feature_service", Name | UnsetType, UNSET),
            ("full_feature_names", bool | UnsetType, UNSET),
        ],
        bases=(Strict,),
    )


def push_request_type(catalog: Catalog) -> type[Struct]:
    """The body of ``POST /push`` for ``catalog``: columns of equal length for one push source or one view."""
    frame = msgspec.defstruct(
        "PushColumns", [(name, _column(Scalar), UNSET) for name in push_columns(catalog)], bases=(Strict,)
    )
    return msgspec.defstruct(
        "PushRequest",
        [
            ("df", frame),
            ("push_source_name", Name | UnsetType, UNSET),
            ("view", Name | UnsetType, UNSET),
            ("to", Literal["online"] | UnsetType, UNSET),
            ("allow_registry_cache", bool | UnsetType, UNSET),
        ],
        bases=(Strict,),
    )


class Metadata(Struct):
    """The names of the response's columns, join keys first."""

    feature_names: list[str]


class FeatureColumn(Struct):
    """One name's values across the entity rows, with their statuses and event times."""

    values: list[Scalar]
    statuses: list[Literal["PRESENT", "NOT_FOUND", "OUTSIDE_MAX_AGE"]]
    event_timestamps: list[str]


class OnlineFeaturesResponse(Struct):
    """Feast's column-major answer."""

    metadata: Metadata
    results: list[FeatureColumn]


class Written(Struct):
    """Rows a push wrote into one view; ``applied`` is how many were newer than what was stored."""

    view: str
    rows: int
    applied: int


class PushResponse(Struct):
    """What a push wrote."""

    written: list[Written]


class Live(Struct):
    """The process is up."""

    live: bool


class Ready(Struct):
    """The store answers; ``catalog`` is the digest of the catalog served."""

    ready: bool
    catalog: str
