"""The feature server's published contract holds: schemathesis against the running server, real Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mlplat.loader import load_catalog
from mlplat.local_identity import LocalIssuer, SigningKey
from mlplat.online_store import open_store
from services.feature_server import create_app
from services.identity import IdentitySettings
from tests.conftest import delete_namespace
from tests.servers import running
from tests.services.contract_checks import fuzz_every_operation
from tests.services.feature_server.conftest import CATALOG, settings_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def feature_server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    namespace = f"contract-{tmp_path_factory.getbasetemp().name}-feature"
    store = open_store(redis_url, CATALOG, namespace=namespace, timeout=1.0)
    # Module-scoped: the per-test MLPLAT_AUTH=off is not set yet, so identity is given.
    app = create_app(
        settings_for(redis_url, namespace), catalog=CATALOG, store=store, identity=IdentitySettings(enabled=False)
    )
    with running(app) as url:
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


@pytest.fixture(scope="module")
def authenticated_server(
    redis_url: str, specs_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, LocalIssuer]]:
    namespace = f"contract-{tmp_path_factory.getbasetemp().name}-feature-auth"
    catalog = load_catalog(specs_dir)
    store = open_store(redis_url, catalog, namespace=namespace, timeout=1.0)
    issuer = LocalIssuer(SigningKey.generate()).start()
    identity = IdentitySettings(enabled=True, issuer=issuer.url)
    app = create_app(settings_for(redis_url, namespace), catalog=catalog, store=store, identity=identity)
    with running(app) as url:
        yield url, issuer
    issuer.stop()
    delete_namespace(redis_url, namespace)


def test_with_a_caller_token_every_answer_is_in_the_contract(authenticated_server: tuple[str, LocalIssuer]) -> None:
    url, issuer = authenticated_server
    # underwriting_console reads two views and pushes nothing: the fuzzer meets 200s, 4xx and 403s.
    headers = {"authorization": f"Bearer {issuer.token('underwriting', 'console')}"}
    covered = fuzz_every_operation(url, headers, {"/get-online-features", "/push"})
    assert set(covered) == {"POST /get-online-features", "POST /push"}
    document = httpx.get(f"{url}/openapi.json").json()  # public: no token
    assert document["components"]["securitySchemes"]["serviceAccountToken"]["scheme"] == "bearer"
    assert document["paths"]["/push"]["post"]["security"] == [{"serviceAccountToken": []}]
    assert document["paths"]["/health/ready"]["get"]["security"] == []
    example = document["paths"]["/push"]["post"]["requestBody"]["content"]["application/json"]["example"]
    assert httpx.post(f"{url}/push", json=example).status_code == 401
    assert httpx.post(f"{url}/push", json=example, headers=headers).status_code == 403
