"""The feature server's published contract holds: schemathesis against the running server, real Redis."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from mlplat.online_store import open_store
from services.feature_server import create_app
from tests.conftest import delete_namespace
from tests.servers import running
from tests.services.contract_checks import fuzz_every_operation
from tests.services.feature_server.conftest import CATALOG, settings_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def feature_server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    namespace = f"contract-{tmp_path_factory.getbasetemp().name}-feature"
    store = open_store(redis_url, CATALOG, namespace=namespace, timeout=1.0)
    with running(create_app(settings_for(redis_url, namespace), catalog=CATALOG, store=store)) as url:
        yield url
    delete_namespace(redis_url, namespace)


def test_every_answer_is_in_the_contract_and_none_is_a_server_error(feature_server: str) -> None:
    covered = fuzz_every_operation(feature_server)
    assert {"POST /get-online-features", "POST /push", "GET /health/ready"} <= set(covered)


def test_the_examples_of_the_document_succeed(feature_server: str) -> None:
    document = httpx.get(f"{feature_server}/openapi.json").json()
    for path in ("/push", "/get-online-features"):
        example = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["example"]
        answer = httpx.post(f"{feature_server}{path}", json=example)
        assert answer.status_code == 200, answer.text
    entities = document["components"]["schemas"]["EntityKeys"]
    assert entities["properties"]["merchant_id"]["items"]["type"] == "integer"
    assert entities["additionalProperties"] is False
