"""The errors both services answer with, and the one mapping from any exception to an answer.

Every answer of an error is ``{"error": "<message>"}`` (the Open Inference Protocol's
error object), plus ``"field"`` when one request field is at fault. Client errors (4xx)
of ours carry their message, which names the field and the fix; server-side failures
carry only their public message; anything unexpected is logged and answered with a bare
500, never its text.
"""

from __future__ import annotations

import logging

from mlplat.errors import MlplatError, http_status_of
from services.log_limit import RateLimitedLog

log = logging.getLogger("mlplat.services")
#: Server-side failures repeat on every request during an outage: one line per kind per 10 s.
_failures = RateLimitedLog(log, interval_seconds=10.0)


class RequestError(MlplatError):
    """A request field has a value the server cannot use; the message starts with its path.

    422 by default (well-formed JSON, wrong content); 400 for a body that is not JSON at
    all and for the Open Inference Protocol's endpoints, whose errors are 400.
    """

    http_status = 422
    public_message = "invalid request"

    def __init__(self, field: str, problem: str, status: int = 422) -> None:
        # Both may quote the request (a field name, a value): bounded, so a huge one costs nothing.
        self.field = clip(field, 200)
        self.http_status = status
        super().__init__(f"{self.field}: {clip(problem, 1000)}")


class BodyTooLargeError(MlplatError):
    """A request carries more rows or bytes than the server accepts (413)."""

    http_status = 413
    public_message = "request too large"


class ServiceNotReadyError(MlplatError):
    """Something the request needs exists but cannot serve yet (a model version not loaded)."""

    http_status = 503
    public_message = "not ready"


#: The longest message an answer or a decision record carries: a message may quote the request
#: (a field name, a value, a model name from the path), which must not make either large.
MAX_MESSAGE_CHARS = 1200


def clip(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text``, cut to ``limit`` characters (``...`` marks the cut)."""
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def error_body(error: BaseException) -> tuple[int, dict[str, str]]:
    """The HTTP status and the JSON body that answer ``error``."""
    status = http_status_of(error)
    if not isinstance(error, MlplatError):
        log.error("unexpected error", exc_info=error)
        return 500, {"error": "internal error"}
    if status >= 500:
        _failures.warning(type(error).__name__, "%s: %s", type(error).__name__, error)
        message = str(error) if isinstance(error, ServiceNotReadyError) else error.public_message
        return status, {"error": message}
    body = {"error": clip(str(error))}
    if isinstance(error, RequestError):
        body["field"] = error.field
    return status, body
