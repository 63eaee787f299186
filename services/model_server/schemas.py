"""The model server's request and response types: what it decodes, and what its OpenAPI document says.

A decision request is typed per model: its ``entities`` are the join keys the model's
views need and its ``values`` the model's request values, each bounded by its dtype, so
an out-of-range number or an unknown field is refused before anything is read or scored.
The Open Inference Protocol types follow the protocol's JSON objects.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from mlplat.models.policy import Outcome, ValueSource
from mlplat.online_store import FeatureStatus
from mlplat.spec.types import DType
from services.field_types import Float32, Float64, Name, Text, key_type, value_type
from services.model_server.registry import ServedModel

#: Largest tensor rank and dimension a V2 request may state (the body limit bounds the data).
MAX_RANK = 4
MAX_DIMENSION = 1 << 24
Dimension = Annotated[int, Meta(ge=-1, le=MAX_DIMENSION)]
Parameters = Annotated[dict[Name, Any], Meta(max_length=64)]


class Strict(Struct, forbid_unknown_fields=True, kw_only=True):
    """Request objects refuse fields they do not define (422 naming the field)."""


# --- decisions -----------------------------------------------------------------------------


def type_name(model: str, suffix: str) -> str:
    """A schema component name for ``model``: ``default_risk`` -> ``DefaultRiskDecisionRequest``."""
    return "".join(part.capitalize() for part in model.replace("-", "_").split("_")) + suffix


def decision_request_type(model: ServedModel) -> type[Struct]:
    """The request type of ``POST /v1/decisions/{model}``, from the model's keys and request values."""
    keys = {key.request_key: key for read in model.reads for key in read.keys}
    entities = msgspec.defstruct(
        type_name(model.name, "Entities"),
        [(name, key_type(key.type)) for name, key in sorted(keys.items())],
        bases=(Strict,),
    )
    values = msgspec.defstruct(
        type_name(model.name, "Values"),
        [(value.name, scored_value_type(value.dtype)) for value in model.spec.request_values],
        bases=(Strict,),
    )
    fields: list[tuple[str, object] | tuple[str, object, object]] = [("entities", entities)]
    fields.append(("values", values) if model.spec.request_values else ("values", values | UnsetType, UNSET))
    return msgspec.defstruct(type_name(model.name, "DecisionRequest"), fields, bases=(Strict,))


def scored_value_type(dtype: DType) -> object:
    """The JSON type of a request value: its dtype's, and finite as the float32 the models score."""
    return Float32 if dtype is DType.FLOAT64 else value_type(dtype)


class FeatureRecord(Struct):
    """One model input as scored: the value, where it came from, its freshness and event time."""

    value: float | None
    source: ValueSource
    status: FeatureStatus | None
    event_time: str | None


class Reason(Struct):
    """A reason code: a feature that pushed the score towards the bad outcome."""

    feature: str
    value: float | None
    contribution: float
    phrase: str


class Refusal(Struct):
    """Why no decision was taken, and which features were missing or stale."""

    reason: str
    features: list[str]


class DecisionResponse(Struct, omit_defaults=True):
    """A decision (or refusal), as the decision log records it."""

    decision_id: str
    model: str
    version: str
    sha256: str
    canary: bool
    decision: Outcome
    score: float | None
    threshold: float
    reasons: list[Reason]
    features: dict[str, FeatureRecord]
    refusal: Refusal | None = None


class DecisionError(Struct, omit_defaults=True):
    """A decision request that failed; ``decision_id`` finds its record in the decision log."""

    error: str
    decision_id: str
    field: str | None = None


# --- the Open Inference Protocol ------------------------------------------------------------


class RequestInput(Strict):
    """One input tensor: ``data`` flat or nested in row-major order."""

    name: Name
    shape: Annotated[list[Dimension], Meta(min_length=1, max_length=MAX_RANK)]
    datatype: Name
    data: list[Any]
    parameters: Parameters | UnsetType = UNSET


class RequestOutput(Strict):
    """An output the request asks for."""

    name: Name
    parameters: Parameters | UnsetType = UNSET


class InferenceRequest(Strict):
    """``$inference_request``."""

    inputs: Annotated[list[RequestInput], Meta(min_length=1, max_length=16)]
    id: Text | UnsetType = UNSET
    parameters: Parameters | UnsetType = UNSET
    outputs: Annotated[list[RequestOutput], Meta(max_length=16)] | UnsetType = UNSET


class ResponseOutput(Struct):
    """``$response_output``: the scores."""

    name: str
    datatype: str
    shape: list[int]
    data: list[Float64]


class InferenceResponse(Struct, omit_defaults=True):
    """``$inference_response``."""

    model_name: str
    outputs: list[ResponseOutput]
    model_version: str | None = None
    id: str | None = None


class MetadataTensor(Struct):
    """``$metadata_tensor``."""

    name: str
    datatype: str
    shape: list[int]


class ModelMetadata(Struct):
    """``$metadata_model_response``."""

    name: str
    versions: list[str]
    platform: str
    inputs: list[MetadataTensor]
    outputs: list[MetadataTensor]


class ServerMetadata(Struct):
    """``$metadata_server_response``."""

    name: str
    version: str
    extensions: list[str]


class ServerLive(Struct):
    """``$live_server_response``."""

    live: bool


class ServerReady(Struct):
    """``$ready_server_response``."""

    ready: bool


class ModelReady(Struct):
    """``$ready_model_response``."""

    name: str
    ready: bool
