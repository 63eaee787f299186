"""Who may call the model server: real tokens from a loopback issuer, over real HTTP.

The repository's grants: ``checkout_api`` takes decisions with both models;
``model_validation`` runs V2 inference on them and takes no decisions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from prometheus_client.parser import text_string_to_metric_families

from infra.workloads.manifests import MODEL_SERVER
from mlplat.access import AccessPolicy
from mlplat.catalog import Catalog
from mlplat.decision_log import read_decision_log
from mlplat.local_identity import LocalIssuer, SigningKey
from mlplat.online_store import OnlineStore
from services.identity import Authorizer, IdentitySettings, TokenVerifier
from services.model_server.app import build_app
from tests.servers import running
from tests.services.deployed_probes import probe_paths
from tests.services.model_server.conftest import APPLICANT, MERCHANT, components, seed_features

DECISION = {"entities": {"applicant_id": APPLICANT, "merchant_id": MERCHANT}, "values": {"order_amount": 80.5}}
INFER = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 13], "data": [0.5] * 13}]}


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    issuer = LocalIssuer(SigningKey.generate()).start()
    yield issuer
    issuer.stop()


@pytest.fixture
def server(
    catalog: Catalog, artifact_root: Path, store: OnlineStore, tmp_path: Path, issuer: LocalIssuer
) -> Iterator[tuple[httpx.Client, Path]]:
    seed_features(store)
    verifier = TokenVerifier(IdentitySettings(enabled=True, issuer=issuer.url))
    parts = dataclasses.replace(
        components(catalog, artifact_root, store, tmp_path / "decisions"),
        authorizer=Authorizer(AccessPolicy(catalog), verifier),
    )
    with running(build_app(parts)) as url, httpx.Client(base_url=url) as client:
        yield client, tmp_path / "decisions"


def bearer(issuer: LocalIssuer, namespace: str, account: str) -> dict[str, str]:
    return {"authorization": f"Bearer {issuer.token(namespace, account)}"}


def test_a_granted_caller_decides_and_the_record_names_it(
    server: tuple[httpx.Client, Path], issuer: LocalIssuer
) -> None:
    client, log = server
    response = client.post("/v1/decisions/fraud", json=DECISION, headers=bearer(issuer, "checkout", "checkout-api"))
    assert response.status_code == 200, response.text
    [record] = read_decision_log(log)
    assert record["id"] == response.json()["decision_id"]
    assert record["caller"] == {"name": "checkout_api", "principal": "checkout/checkout-api"}


def test_no_token_is_401_with_the_bearer_challenge_and_no_record(server: tuple[httpx.Client, Path]) -> None:
    client, log = server
    response = client.post("/v1/decisions/fraud", json=DECISION)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="mlplat"'
    assert "Authorization: Bearer" in response.json()["error"]
    assert list(read_decision_log(log)) == []


def test_an_expired_token_is_401_saying_so(server: tuple[httpx.Client, Path], issuer: LocalIssuer) -> None:
    client, _ = server
    token = issuer.token("checkout", "checkout-api", now=0)
    response = client.post("/v1/decisions/fraud", json=DECISION, headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert "expired" in response.json()["error"]


def test_a_caller_without_the_decide_grant_is_403_naming_it_and_recorded(
    server: tuple[httpx.Client, Path], issuer: LocalIssuer
) -> None:
    client, log = server
    headers = bearer(issuer, "model-risk", "validation-runner")
    response = client.post("/v1/decisions/fraud", json=DECISION, headers=headers)
    assert response.status_code == 403
    message = response.json()["error"]
    assert "'model_validation'" in message
    assert "spec.serving.callers of 'fraud'" in message
    [record] = read_decision_log(log)
    assert (record["kind"], record["status"]) == ("error", 403)
    assert record["caller"]["name"] == "model_validation"
    assert "features" not in record  # refused before any feature was read


def test_v2_inference_needs_the_inference_grant(server: tuple[httpx.Client, Path], issuer: LocalIssuer) -> None:
    client, _ = server
    validation = bearer(issuer, "model-risk", "validation-runner")
    assert client.post("/v2/models/fraud/infer", json=INFER, headers=validation).status_code == 200
    assert client.get("/v2/models/fraud", headers=validation).status_code == 200
    checkout = bearer(issuer, "checkout", "checkout-api")
    refused = client.post("/v2/models/fraud/infer", json=INFER, headers=checkout)
    assert refused.status_code == 403
    assert "spec.serving.inferenceCallers" in refused.json()["error"]
    assert client.get("/v2/models/fraud", headers=checkout).status_code == 403


def test_two_authorization_headers_are_401_whichever_comes_first(
    server: tuple[httpx.Client, Path], issuer: LocalIssuer
) -> None:
    client, log = server
    (granted,) = bearer(issuer, "checkout", "checkout-api").values()
    (other,) = bearer(issuer, "model-risk", "validation-runner").values()
    for pair in ([granted, other], [other, granted]):
        headers = [("authorization", value) for value in pair]
        response = client.post("/v1/decisions/fraud", json=DECISION, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"] == "send one Authorization header; this request has 2"
    assert list(read_decision_log(log)) == []


def test_an_unknown_key_id_is_named_in_the_401_but_not_echoed_whole(
    server: tuple[httpx.Client, Path], issuer: LocalIssuer
) -> None:
    client, _ = server
    claims = jwt.decode(issuer.token("checkout", "checkout-api"), options={"verify_signature": False})
    token = jwt.encode(claims, issuer.key.private, algorithm="RS256", headers={"kid": "k" * 5000})
    response = client.post("/v1/decisions/fraud", json=DECISION, headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["error"] == f"token key id '{'k' * 61}...' is not one of the issuer's keys"


def test_a_service_account_no_caller_names_is_403(server: tuple[httpx.Client, Path], issuer: LocalIssuer) -> None:
    client, _ = server
    response = client.post("/v1/decisions/fraud", json=DECISION, headers=bearer(issuer, "default", "default"))
    assert response.status_code == 403
    assert "service account default/default is not a Caller" in response.json()["error"]


def test_probes_and_metrics_need_no_token_and_count_callers(
    server: tuple[httpx.Client, Path], issuer: LocalIssuer, catalog: Catalog
) -> None:
    client, _ = server
    assert client.get("/v2/health/ready").status_code == 200
    assert client.get("/v2/health/live").status_code == 200
    # What the kubelet probes, as the rendered Deployments name it.
    for path in probe_paths(catalog, MODEL_SERVER):
        assert client.get(path).status_code == 200, path
    client.post("/v1/decisions/fraud", json=DECISION, headers=bearer(issuer, "checkout", "checkout-api"))
    client.post("/v1/decisions/fraud", json=DECISION)
    metrics = client.get("/metrics").text
    decided = [
        sample
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "mlplat_model_requests_total"
        and sample.labels.get("caller") == "checkout_api"
        and (sample.labels["route"], sample.labels["model"], sample.labels["status"]) == ("decision", "fraud", "200")
    ]
    assert [sample.value for sample in decided] == [1.0]
    assert 'mlplat_auth_failures_total{reason="missing"} 1.0' in metrics
