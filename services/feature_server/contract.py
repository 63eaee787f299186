"""The feature server's published contract: its OpenAPI document."""

from __future__ import annotations

from typing import Any

from mlplat.catalog import Catalog
from services.examples import EXAMPLE_TIME, example_key, example_value
from services.feature_server.pushes import timestamp_column
from services.feature_server.schemas import (
    Live,
    OnlineFeaturesResponse,
    PushResponse,
    Ready,
    push_request_type,
    read_request_type,
)
from services.openapi import ErrorBody, Operation, openapi_document

TITLE = "mlplat feature server"
VERSION = "0.1.0"
DESCRIPTION = (
    "Feast-compatible online feature reads and pushes. "
    'Every error is `{"error": ...}`, with `field` naming the request field at fault.'
)
_FAILURES: dict[int, type | None] = {400: ErrorBody, 404: ErrorBody, 413: ErrorBody, 422: ErrorBody, 503: ErrorBody}


def feature_server_document(catalog: Catalog, *, authenticated: bool = True) -> dict[str, Any]:
    """The OpenAPI document of a feature server over ``catalog`` (its join keys type the reads);
    ``authenticated``: it verifies callers' tokens."""
    operations = [
        Operation(
            "POST",
            "/get-online-features",
            "Feature values of entity rows, column-major, with freshness per value",
            {200: OnlineFeaturesResponse, **_FAILURES},
            request=read_request_type(catalog),
            tags=("features",),
            example=read_example(catalog),
        ),
        Operation(
            "POST",
            "/push",
            "Write rows into the online views of a push source (or one view)",
            {200: PushResponse, **_FAILURES},
            request=push_request_type(catalog),
            tags=("features",),
            example=push_example(catalog),
        ),
        Operation("GET", "/health/live", "The process is up", {200: Live}, tags=("health",), public=True),
        Operation(
            "GET",
            "/health/ready",
            "The online store answers",
            {200: Ready, 503: ErrorBody},
            tags=("health",),
            public=True,
        ),
        Operation("GET", "/metrics", "Prometheus metrics", {200: None}, media_type="text/plain", public=True),
    ]
    return openapi_document(TITLE, VERSION, DESCRIPTION, operations, authenticated=authenticated)


def _first_online_view(catalog: Catalog) -> str | None:
    return next((name for name, view in catalog.feature_views.items() if view.spec.online), None)


def read_example(catalog: Catalog) -> dict[str, object] | None:
    """A read of the first online view's features for one entity row."""
    name = _first_online_view(catalog)
    if name is None:
        return None
    view = catalog.feature_views[name]
    return {
        "features": [f"{name}:{feature.name}" for feature in view.spec.features],
        "entities": {key.request_key: [example_key(key.type)] for key in catalog.join_keys(name)},
    }


def push_example(catalog: Catalog) -> dict[str, object] | None:
    """One row pushed into the first online view."""
    name = _first_online_view(catalog)
    if name is None:
        return None
    view = catalog.feature_views[name]
    frame: dict[str, list[object]] = {key.column: [example_key(key.type)] for key in catalog.join_keys(name)}
    frame[timestamp_column(catalog, view)] = [EXAMPLE_TIME]
    frame.update({feature.name: [example_value(feature.dtype)] for feature in view.spec.features})
    return {"view": name, "df": frame}
