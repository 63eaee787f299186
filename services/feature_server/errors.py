"""Errors of HTTP requests, and the one place that turns any exception into a response."""

from __future__ import annotations

import logging

from mlplat.errors import MlplatError, http_status_of

log = logging.getLogger("mlplat.feature_server")


class RequestError(MlplatError):
    """The request body is invalid; the message starts with the field path."""

    http_status = 422
    public_message = "invalid request"

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__(f"{field}: {problem}")


class BatchTooLargeError(MlplatError):
    """A request carries more rows or bytes than the server accepts."""

    http_status = 413
    public_message = "request too large"


def error_body(error: BaseException) -> tuple[int, dict[str, object]]:
    """The status and JSON body for ``error``.

    Client errors (4xx) of ours carry their message, which names the field or lists
    what exists; server-side failures carry only their public message, and anything
    unexpected is logged here and answered with a bare 500, never its text.
    """
    status = http_status_of(error)
    if not isinstance(error, MlplatError):
        log.exception("unexpected error", exc_info=error)
        return 500, {"error": {"status": 500, "message": "internal error"}}
    if status >= 500:
        log.warning("%s: %s", type(error).__name__, error)
        return status, {"error": {"status": status, "message": error.public_message}}
    body: dict[str, object] = {"status": status, "message": str(error)}
    if isinstance(error, RequestError):
        body["field"] = error.field
    return status, {"error": body}
