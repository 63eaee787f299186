"""The model server's published contract holds: schemathesis against the running server, real Redis."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from mlplat.access import AccessPolicy
from mlplat.catalog import Catalog
from mlplat.local_identity import LocalIssuer, SigningKey
from mlplat.online_store import open_store
from services.identity import Authorizer, IdentitySettings, TokenVerifier
from services.model_server.app import build_app
from tests.servers import running
from tests.services.contract_checks import fuzz_every_operation
from tests.services.model_server.conftest import components, seed_features

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model_server(
    redis_url: str, catalog: Catalog, artifact_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    namespace = f"contract-{tmp_path_factory.getbasetemp().name}-model"
    store = open_store(redis_url, catalog, namespace=namespace, timeout=1.0)
    seed_features(store)
    app = build_app(components(catalog, artifact_root, store, tmp_path_factory.mktemp("decisions")))
    with running(app) as url:
        yield url
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{namespace}:*", count=1000):
        client.delete(key)
    client.close()


def test_every_answer_is_in_the_contract_and_none_is_a_server_error(model_server: str) -> None:
    covered = fuzz_every_operation(model_server)
    assert {"POST /v1/decisions/default_risk", "POST /v2/models/fraud/infer", "GET /v2/health/ready"} <= set(covered)


def test_the_document_types_each_model_from_its_spec(model_server: str) -> None:
    document = httpx.get(f"{model_server}/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    schemas = document["components"]["schemas"]
    values = schemas["DefaultRiskValues"]
    assert values["required"] == ["order_amount", "instalments"]
    assert values["properties"]["instalments"] == {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}
    assert values["additionalProperties"] is False
    assert set(schemas["FraudEntities"]["properties"]) == {"applicant_id", "merchant_id"}
    decision = document["paths"]["/v1/decisions/fraud"]["post"]
    assert decision["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/FraudDecisionRequest"
    }
    assert {"200", "404", "413", "422", "503"} <= set(decision["responses"])
    assert "/v2/models/fraud/versions/v1/infer" in document["paths"]


@pytest.fixture(scope="module")
def authenticated_server(
    redis_url: str, catalog: Catalog, artifact_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, LocalIssuer]]:
    namespace = f"contract-{tmp_path_factory.getbasetemp().name}-model-auth"
    store = open_store(redis_url, catalog, namespace=namespace, timeout=1.0)
    seed_features(store)
    issuer = LocalIssuer(SigningKey.generate()).start()
    verifier = TokenVerifier(IdentitySettings(enabled=True, issuer=issuer.url))
    parts = dataclasses.replace(
        components(catalog, artifact_root, store, tmp_path_factory.mktemp("decisions-auth")),
        authorizer=Authorizer(AccessPolicy(catalog), verifier),
    )
    with running(build_app(parts)) as url:
        yield url, issuer
    issuer.stop()
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{namespace}:*", count=1000):
        client.delete(key)
    client.close()


def test_with_caller_tokens_every_answer_is_in_the_contract(authenticated_server: tuple[str, LocalIssuer]) -> None:
    url, issuer = authenticated_server
    # checkout_api may decide but not infer: the fuzzer meets 200s, 4xx of bad bodies and 403s.
    headers = {"authorization": f"Bearer {issuer.token('checkout', 'checkout-api')}"}
    paths = {"/v1/decisions/default_risk", "/v2/models/fraud/infer", "/v2/health/ready"}
    covered = fuzz_every_operation(url, headers, paths)
    assert set(covered) == {"POST /v1/decisions/default_risk", "POST /v2/models/fraud/infer", "GET /v2/health/ready"}
    assert httpx.post(f"{url}/v1/decisions/default_risk", json={}).status_code == 401
    forbidden = httpx.post(f"{url}/v2/models/fraud/infer", json={"inputs": []}, headers=headers)
    assert forbidden.status_code == 403, forbidden.text


def test_the_document_is_public_and_declares_the_bearer_scheme(
    authenticated_server: tuple[str, LocalIssuer],
) -> None:
    url, _ = authenticated_server
    answer = httpx.get(f"{url}/openapi.json")  # no token
    assert answer.status_code == 200
    document = answer.json()
    assert document["components"]["securitySchemes"]["serviceAccountToken"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": document["components"]["securitySchemes"]["serviceAccountToken"]["description"],
    }
    decision = document["paths"]["/v1/decisions/fraud"]["post"]
    assert decision["security"] == [{"serviceAccountToken": []}]
    assert {"401", "403"} <= set(decision["responses"])
    assert "WWW-Authenticate" in decision["responses"]["401"]["headers"]
    for public in ("/v2/health/live", "/v2/health/ready", "/v2", "/metrics"):
        assert document["paths"][public]["get"]["security"] == []
        assert "401" not in document["paths"][public]["get"]["responses"]
