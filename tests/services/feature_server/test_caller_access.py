"""Who may read and push: real tokens from a loopback issuer, the feature server over real HTTP.

The repository's grants: ``underwriting_console`` reads ``bureau_profile`` and
``repayment_history``; ``checkout_api`` pushes to ``application_stream`` (which feeds
``application_velocity``) and reads nothing.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra.workloads.manifests import FEATURE_SERVER
from mlplat.catalog import Catalog
from mlplat.loader import load_catalog
from mlplat.local_identity import LocalIssuer, SigningKey
from services.feature_server import create_app
from services.identity import IdentitySettings
from tests.servers import running
from tests.services.deployed_probes import probe_paths
from tests.services.feature_server.conftest import settings_for
from tests.services.raw_http import answer as _answer

READ = {"features": ["bureau_profile:fico_score"], "entities": {"applicant_id": ["a1"]}}
READ_VELOCITY = {"features": ["application_velocity:applications_1h"], "entities": {"applicant_id": ["a1"]}}


def push_body(**target: str) -> dict[str, object]:
    frame = {"applicant_id": ["a1"], "event_timestamp": [time.time()], "applications_1h": [2]}
    return {**target, "df": frame}


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    issuer = LocalIssuer(SigningKey.generate()).start()
    yield issuer
    issuer.stop()


@pytest.fixture(scope="module")
def catalog(specs_dir: Path) -> Catalog:
    return load_catalog(specs_dir)


@pytest.fixture
def client(catalog: Catalog, issuer: LocalIssuer, tmp_path: Path) -> Iterator[httpx.Client]:
    settings = settings_for(f"sqlite:///{tmp_path / 'online.db'}", "access")
    app = create_app(settings, catalog=catalog, identity=IdentitySettings(enabled=True, issuer=issuer.url))
    with running(app) as url, httpx.Client(base_url=url) as client:
        yield client


def bearer(issuer: LocalIssuer, namespace: str, account: str) -> dict[str, str]:
    return {"authorization": f"Bearer {issuer.token(namespace, account)}"}


def test_a_reader_reads_its_views(client: httpx.Client, issuer: LocalIssuer) -> None:
    response = client.post("/get-online-features", json=READ, headers=bearer(issuer, "underwriting", "console"))
    assert response.status_code == 200, response.text


def test_reading_a_view_without_the_grant_is_403_naming_it(client: httpx.Client, issuer: LocalIssuer) -> None:
    headers = bearer(issuer, "underwriting", "console")
    response = client.post("/get-online-features", json=READ_VELOCITY, headers=headers)
    assert response.status_code == 403
    assert response.json()["error"] == (
        "caller 'underwriting_console' (underwriting/console) may not read feature view 'application_velocity'; "
        "add it to spec.readers of 'application_velocity'"
    )


@pytest.mark.parametrize(
    ("path", "account", "error"),
    [
        (
            "/get-online-features",
            ("checkout", "checkout-api"),
            "caller 'checkout_api' (checkout/checkout-api) may not read any feature view; "
            "add it to spec.readers of each feature view it needs",
        ),
        (
            "/push",
            ("underwriting", "console"),
            "caller 'underwriting_console' (underwriting/console) may not push to any source; "
            "add it to spec.writers of each push source it needs",
        ),
        (
            "/get-online-features",
            ("default", "default"),
            "service account default/default is not a Caller in the specs, so it may not read any feature view; "
            "define a Caller for it and add that caller to spec.readers of each feature view it needs",
        ),
    ],
)
def test_a_caller_granted_nothing_of_the_kind_is_refused_before_its_body_is_read(
    client: httpx.Client, issuer: LocalIssuer, path: str, account: tuple[str, str], error: str
) -> None:
    # One byte of a body announced as 1000: a handler that read it would wait for the rest.
    (authorization,) = bearer(issuer, *account).values()
    head = f"POST {path} HTTP/1.1\r\nhost: test\r\nauthorization: {authorization}\r\ncontent-length: 1000\r\n\r\n"
    with socket.create_connection((client.base_url.host, client.base_url.port or 80), timeout=5) as sock:
        sock.sendall(head.encode() + b"{")
        status, _, body = _answer(sock)
    assert status == 403
    assert json.loads(body)["error"] == error


def test_a_feature_service_needs_every_view_it_reads(client: httpx.Client, issuer: LocalIssuer) -> None:
    body = {"feature_service": "checkout_risk", "entities": {"applicant_id": ["a1"], "merchant_id": ["m1"]}}
    response = client.post("/get-online-features", json=body, headers=bearer(issuer, "underwriting", "console"))
    assert response.status_code == 403
    assert "'merchant_risk'" in response.json()["error"]


def test_pushes_are_granted_separately_from_reads(client: httpx.Client, issuer: LocalIssuer) -> None:
    checkout = bearer(issuer, "checkout", "checkout-api")
    pushed = client.post("/push", json=push_body(push_source_name="application_stream"), headers=checkout)
    assert pushed.status_code == 200, pushed.text
    by_view = client.post("/push", json=push_body(view="application_velocity"), headers=checkout)
    assert by_view.status_code == 200, by_view.text
    # The writer may not read what it wrote; the reader may not write.
    assert client.post("/get-online-features", json=READ_VELOCITY, headers=checkout).status_code == 403
    console = bearer(issuer, "underwriting", "console")
    refused = client.post("/push", json=push_body(push_source_name="application_stream"), headers=console)
    assert refused.status_code == 403
    assert "may not push to any source" in refused.json()["error"]


def test_no_token_or_a_wrong_audience_is_401(client: httpx.Client, issuer: LocalIssuer) -> None:
    assert client.post("/push", json=push_body(push_source_name="application_stream")).status_code == 401
    token = issuer.token("checkout", "checkout-api", audience="https://kubernetes.default.svc")
    response = client.post("/get-online-features", json=READ, headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert "audience" in response.json()["error"]


def test_probes_and_metrics_need_no_token_and_responses_count_callers(
    client: httpx.Client, issuer: LocalIssuer, catalog: Catalog
) -> None:
    assert client.get("/health/live").status_code == 200
    assert client.get("/health/ready").status_code == 200
    # What the kubelet probes, as the rendered Deployment names it.
    for path in probe_paths(catalog, FEATURE_SERVER):
        assert client.get(path).status_code == 200, path
    client.post("/get-online-features", json=READ, headers=bearer(issuer, "underwriting", "console"))
    metrics = client.get("/metrics").text
    assert (
        'mlplat_feature_server_responses_total{caller="underwriting_console",endpoint="get-online-features",'
        'status="200"} 1.0'
    ) in metrics


def test_a_view_on_a_batch_source_takes_no_pushes(client: httpx.Client, issuer: LocalIssuer) -> None:
    frame = {"applicant_id": ["a1"], "event_timestamp": [time.time()], "fico_score": [700]}
    body = {"view": "bureau_profile", "df": frame}
    response = client.post("/push", json=body, headers=bearer(issuer, "checkout", "checkout-api"))
    assert response.status_code == 403
    assert "'bureau_snapshots' is a batch source" in response.json()["error"]
