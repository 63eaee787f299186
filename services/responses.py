"""JSON answers of both services: one serializer, one error answer."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.errors import error_body

#: Timestamps as ISO 8601 in UTC with ``Z``; numpy arrays and scalars as JSON numbers.
_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC | orjson.OPT_SERIALIZE_NUMPY


def _default(value: object) -> object:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_body_bytes(payload: object) -> bytes:
    """``payload`` as JSON bytes: timestamps ISO 8601 in UTC, bytes as base64, numpy as numbers."""
    return orjson.dumps(payload, default=_default, option=_OPTIONS)


def json_response(payload: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """``payload`` as an ``application/json`` response."""
    return Response(json_body_bytes(payload), status, headers=headers, media_type="application/json")


def error_response(error: BaseException, **extra: object) -> Response:
    """The answer to ``error`` (see :func:`services.errors.error_body`), with ``extra`` fields."""
    status, body = error_body(error)
    return json_response({**body, **extra}, status)


def http_error_handler(not_found: str) -> Callable[[Request, Exception], Awaitable[Response]]:
    """The answer to Starlette's routing errors: 404 says what exists, 405 keeps its ``Allow`` header."""

    async def handle(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        message = not_found if error.status_code == 404 else str(error.detail)
        return json_response({"error": message}, error.status_code, headers=dict(error.headers or {}))

    return handle


def document_route(document: Mapping[str, Any]) -> Route:
    """``GET /openapi.json``: the service's contract, serialized once."""
    body = json_body_bytes(document)

    async def openapi(request: Request) -> Response:
        return Response(body, media_type="application/json")

    return Route("/openapi.json", openapi, methods=["GET"])
