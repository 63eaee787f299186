"""The model server's published contract: its OpenAPI document, one path per served model.

Paths name each served model (and version) rather than a ``{model_name}`` parameter, so
every request schema is that model's own: its entity keys and request values, each with
its dtype's bounds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.examples import example_key, example_value
from services.model_server.registry import ServedModel
from services.model_server.schemas import (
    DecisionError,
    DecisionResponse,
    InferenceRequest,
    InferenceResponse,
    ModelMetadata,
    ModelReady,
    ServerLive,
    ServerMetadata,
    ServerReady,
    decision_request_type,
)
from services.model_server.v2 import INPUT_NAME
from services.openapi import ErrorBody, Operation, openapi_document

TITLE = "mlplat model server"
DESCRIPTION = (
    "Credit decisions (`/v1/decisions/{model}`) and the Open Inference Protocol (V2) over the served models. "
    'Every error is `{"error": ...}`, with `field` naming the request field at fault.'
)
_V2 = ("open inference protocol",)


def model_server_document(
    models: Mapping[str, ServedModel], version: str, *, authenticated: bool = True
) -> dict[str, Any]:
    """The OpenAPI document of a server serving ``models``; ``authenticated``: it verifies callers' tokens."""
    operations = [
        Operation("GET", "/v2/health/live", "Server live", {200: ServerLive}, tags=_V2, public=True),
        Operation(
            "GET",
            "/v2/health/ready",
            "Server ready: every model can serve",
            {200: ServerReady, 503: ServerReady},
            tags=_V2,
            public=True,
        ),
        Operation("GET", "/v2", "Server metadata", {200: ServerMetadata}, tags=_V2, public=True),
        Operation("GET", "/metrics", "Prometheus metrics", {200: None}, media_type="text/plain", public=True),
    ]
    for name, model in models.items():
        operations.append(
            Operation(
                "POST",
                f"/v1/decisions/{name}",
                f"A credit decision with {name}: features read, scored, policy applied, recorded",
                {200: DecisionResponse, 400: DecisionError, 403: DecisionError, 404: DecisionError, 413: DecisionError,
                 422: DecisionError, 503: DecisionError},
                request=decision_request_type(model),
                tags=("decisions",),
                example=decision_example(model),
            )
        )  # fmt: skip
        for base in [f"/v2/models/{name}", *(f"/v2/models/{name}/versions/{v}" for v in model.versions)]:
            operations += _v2_model_operations(name, base, len(model.spec.features))
    return openapi_document(TITLE, version, DESCRIPTION, operations, authenticated=authenticated)


def _v2_model_operations(name: str, base: str, width: int) -> list[Operation]:
    example = {"inputs": [{"name": INPUT_NAME, "shape": [1, width], "datatype": "FP32", "data": [0.0] * width}]}
    return [
        Operation("GET", base, f"Metadata of {name}", {200: ModelMetadata, 404: ErrorBody}, tags=_V2),
        Operation("GET", f"{base}/ready", f"Whether {name} is ready", {200: ModelReady, 404: ErrorBody, 503: ModelReady}, tags=_V2),
        Operation(
            "POST",
            f"{base}/infer",
            f"Scores of {name} for a tensor of feature rows",
            {200: InferenceResponse, 400: ErrorBody, 404: ErrorBody, 413: ErrorBody, 503: ErrorBody},
            request=InferenceRequest,
            tags=_V2,
            example=example,
        ),
    ]  # fmt: skip


def decision_example(model: ServedModel) -> dict[str, object]:
    """A decision request: one value per entity key and request value."""
    keys = {key.request_key: example_key(key.type) for read in model.reads for key in read.keys}
    body: dict[str, object] = {"entities": keys}
    if model.spec.request_values:
        body["values"] = {value.name: example_value(value.dtype) for value in model.spec.request_values}
    return body
