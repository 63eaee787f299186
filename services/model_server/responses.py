"""JSON responses (orjson) and the one mapping from exceptions to what a client sees."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from mlplat.errors import MlplatError, NotFoundError, http_status_of
from services.request_body import read_bounded

log = logging.getLogger("mlplat.model_server")


class RequestError(MlplatError):
    """The request is malformed; the message names the field and is safe to show the client."""

    http_status = 400


class BodyTooLargeError(RequestError):
    """The body is larger than a request may be (413)."""

    http_status = 413


#: Largest request body: a decision is well under 1 KiB; V2 batches of a few thousand rows fit.
MAX_BODY_BYTES = 8 * 1024 * 1024


class InvalidFieldError(RequestError):
    """A field has a value the server cannot use (422: well-formed JSON, wrong content)."""

    http_status = 422


class ModelNotReadyError(MlplatError):
    """The model or version exists but is not loaded (see the server log for why)."""

    http_status = 503


class OrjsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def json_response(content: Any, status: int = 200) -> Response:
    return OrjsonResponse(content, status_code=status)


def public_message(error: BaseException) -> str:
    """What a client may read about ``error``: ours say what to fix, anything else says nothing."""
    if isinstance(error, RequestError | NotFoundError | ModelNotReadyError):
        return str(error)
    if isinstance(error, MlplatError):
        return error.public_message
    return "internal error"


def error_response(error: BaseException, **extra: Any) -> Response:
    """The V2 error object (``{"error": ...}``) with the error's HTTP status."""
    status = http_status_of(error)
    if status >= 500 and not isinstance(error, MlplatError):
        log.error("unexpected error", exc_info=error)
    return json_response({"error": public_message(error), **extra}, status)


async def json_body(request: Request, limit: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The request body as a JSON object, or :class:`RequestError` saying what is wrong.

    Bodies over ``limit`` bytes are refused with 413 before they are read whole.
    """
    raw = await read_bounded(request, limit, BodyTooLargeError)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise RequestError("body: not valid JSON") from None
    if not isinstance(body, dict):
        raise RequestError(f"body: expected a JSON object, got {type(body).__name__}")
    return body
