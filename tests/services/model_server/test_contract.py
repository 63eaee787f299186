"""The model server's published contract holds: schemathesis against the running server, real Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from mlplat.catalog import Catalog
from mlplat.online_store import open_store
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
