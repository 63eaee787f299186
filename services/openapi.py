"""The OpenAPI 3.1 document of a service, generated from the msgspec types it decodes and answers.

Each service lists its :class:`Operation`\\ s; :func:`openapi_document` turns them into
the document served at ``/openapi.json``. Request and response schemas come from the
same types the handlers decode with (:func:`msgspec.json.schema_components`), so the
contract cannot drift from what the server checks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from msgspec import Struct

OPENAPI_VERSION = "3.1.0"
_REF = "#/components/schemas/{name}"
_STATUS_TEXT = {
    200: "OK",
    400: "The body is not JSON, or (Open Inference Protocol) a field is wrong; `field` names it",
    401: "No bearer token, or one that does not verify; the message says why",
    403: "The caller lacks a grant; the message names it and where the specs grant it",
    404: "No such model, version, view or source",
    405: "Method not allowed; the Allow header lists the allowed ones",
    413: "The body, or its rows, are over the server's limit",
    422: "A field has a value the server cannot use; `field` names it",
    503: "A store, the decision log or the model is unavailable; retry later",
}


class ErrorBody(Struct, omit_defaults=True):
    """The error object of every failed request; ``field`` names the request field at fault."""

    error: str
    field: str | None = None


@dataclass(frozen=True)
class Operation:
    """One method on one path: what it takes and what it answers, by status."""

    method: str
    path: str
    summary: str
    responses: Mapping[int, type | None]
    request: type | None = None
    tags: tuple[str, ...] = ()
    #: ``text/plain`` for the metrics page; JSON otherwise.
    media_type: str = "application/json"
    description: str = ""
    #: A request body that succeeds, shown to readers and tried first by fuzzers.
    example: object = None
    #: Served without a token (probes, metrics, server metadata); every other operation
    #: needs the caller's service account token and answers 401 and 403.
    public: bool = False


#: The scheme every non-public operation requires: a projected Kubernetes service account
#: token (a JWT of the cluster's issuer, audience ``mlplat``) as ``Authorization: Bearer``.
SECURITY_SCHEME = "serviceAccountToken"
_SECURITY_SCHEMES = {
    SECURITY_SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A projected service account token of the cluster's issuer with audience `mlplat`; "
        "the specs' Caller objects map it to a caller and its grants",
    }
}


def openapi_document(
    title: str, version: str, description: str, operations: Sequence[Operation], *, authenticated: bool = True
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``operations``.

    ``authenticated``: the server verifies callers, so every operation but the public ones
    declares the bearer scheme and its 401 and 403. A server run with ``MLPLAT_AUTH=off``
    requires no token, and its document says so.
    """
    if not authenticated:
        operations = [dataclasses.replace(operation, public=True) for operation in operations]
    types: list[Any] = []
    for operation in operations:
        if operation.request is not None:
            types.append(operation.request)
        types.extend(t for t in operation.responses.values() if t is not None)
    secured = any(not operation.public for operation in operations)
    if secured:
        types.append(ErrorBody)
    schemas, components = msgspec.json.schema_components(_unique(types), ref_template=_REF)
    refs = dict(zip(_unique(types), schemas, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(operation, refs, secured)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": {"schemas": components, **({"securitySchemes": _SECURITY_SCHEMES} if secured else {})},
    }


def _operation(operation: Operation, refs: Mapping[Any, Any], secured: bool) -> dict[str, Any]:
    responses = dict(operation.responses)
    if not operation.public:
        responses = {401: ErrorBody, 403: ErrorBody, **responses}
    body: dict[str, Any] = {
        "summary": operation.summary,
        "operationId": f"{operation.method.lower()}{operation.path.replace('/', '_').replace('-', '_')}",
        "responses": {
            str(status): _response(status, kind, operation.media_type, refs)
            for status, kind in sorted(responses.items())
        },
    }
    if secured:
        body["security"] = [] if operation.public else [{SECURITY_SCHEME: []}]
    if operation.description:
        body["description"] = operation.description
    if operation.tags:
        body["tags"] = list(operation.tags)
    if operation.request is not None:
        content: dict[str, Any] = {"schema": refs[operation.request]}
        if operation.example is not None:
            content["example"] = operation.example
        body["requestBody"] = {"required": True, "content": {"application/json": content}}
    return body


def _response(status: int, kind: type | None, media_type: str, refs: Mapping[Any, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": _STATUS_TEXT.get(status, "")}
    if status == 401:
        answer["headers"] = {
            "WWW-Authenticate": {"description": "`Bearer`, with the error", "schema": {"type": "string"}}
        }
    if status == 405:
        answer["headers"] = {"Allow": {"description": "The allowed methods", "schema": {"type": "string"}}}
    if kind is not None:
        answer["content"] = {"application/json": {"schema": refs[kind]}}
    elif status == 200 and media_type != "application/json":
        answer["content"] = {media_type: {"schema": {"type": "string"}}}
    return answer


def _unique(types: Sequence[Any]) -> list[Any]:
    seen: list[Any] = []
    for kind in types:
        if kind not in seen:
            seen.append(kind)
    return seen
