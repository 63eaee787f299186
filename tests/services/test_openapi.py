"""The OpenAPI document is built from the msgspec types the handlers decode and answer."""

from __future__ import annotations

from typing import Annotated

import msgspec

from services.openapi import ErrorBody, Operation, openapi_document


class Thing(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(max_length=8)]


class Made(msgspec.Struct):
    id: int


def test_requests_responses_and_examples_come_from_the_types() -> None:
    document = openapi_document(
        "svc",
        "1.0",
        "a service",
        [
            Operation(
                "POST", "/things", "Make a thing", {200: Made, 422: ErrorBody}, request=Thing, example={"name": "a"}
            ),
            Operation("GET", "/metrics", "Metrics", {200: None}, media_type="text/plain"),
        ],
    )

    assert (document["openapi"], document["info"]["title"]) == ("3.1.0", "svc")
    post = document["paths"]["/things"]["post"]
    assert post["requestBody"]["content"]["application/json"] == {
        "schema": {"$ref": "#/components/schemas/Thing"},
        "example": {"name": "a"},
    }
    assert post["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
    schemas = document["components"]["schemas"]
    assert schemas["Thing"]["properties"]["name"] == {"type": "string", "maxLength": 8}
    assert schemas["Thing"]["additionalProperties"] is False
    assert schemas["ErrorBody"]["required"] == ["error"]
    metrics = document["paths"]["/metrics"]["get"]["responses"]["200"]
    assert metrics["content"] == {"text/plain": {"schema": {"type": "string"}}}


def test_secured_operations_declare_the_bearer_scheme_and_its_refusals() -> None:
    operations = [
        Operation("POST", "/things", "Make a thing", {200: Made, 422: ErrorBody}, request=Thing),
        Operation("GET", "/health", "Probe", {200: None}, public=True),
    ]
    document = openapi_document("svc", "1.0", "a service", operations)

    scheme = document["components"]["securitySchemes"]["serviceAccountToken"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    post = document["paths"]["/things"]["post"]
    assert post["security"] == [{"serviceAccountToken": []}]
    assert set(post["responses"]) == {"200", "401", "403", "422"}
    assert "WWW-Authenticate" in post["responses"]["401"]["headers"]
    probe = document["paths"]["/health"]["get"]
    assert probe["security"] == []
    assert set(probe["responses"]) == {"200"}


def test_a_server_without_caller_authentication_documents_no_token() -> None:
    operations = [Operation("POST", "/things", "Make a thing", {200: Made, 422: ErrorBody}, request=Thing)]
    document = openapi_document("svc", "1.0", "a service", operations, authenticated=False)

    assert "securitySchemes" not in document["components"]
    post = document["paths"]["/things"]["post"]
    assert "security" not in post
    assert set(post["responses"]) == {"200", "422"}
