"""Decisions end to end: features written through the online store into the real Redis,
requests over real HTTP, scores and reasons checked against the models in-process."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mlplat.catalog import Catalog
from mlplat.decision_log import read_decision_log
from mlplat.models.scoring import sigmoid
from mlplat.online_store import OnlineStore, open_store
from mlplat.spec.kinds import Canary, MissingPolicy, Model, Rollout, Shadow
from services.model_server.app import build_app, decision_in_flight_limit
from services.model_server.decision_ids import canary_bucket
from tests.model_fixtures import example_catalog
from tests.servers import running, throwaway_redis
from tests.services.admission_checks import assert_late_loop_sheds_then_recovers, assert_shed_then_recovered
from tests.services.model_server.conftest import APPLICANT, FEATURES, MERCHANT, components, seed_features

REQUEST = {
    "default_risk": {
        "entities": {"applicant_id": APPLICANT, "merchant_id": MERCHANT},
        "values": {"order_amount": 1250.0, "instalments": 4},
    },
    "fraud": {"entities": {"applicant_id": APPLICANT, "merchant_id": MERCHANT}, "values": {"order_amount": 80.5}},
}


def log_records(log_dir: Path) -> list[dict[str, Any]]:
    return list(read_decision_log(log_dir))


def expected_row(catalog: Catalog, model: str, values: dict[str, float]) -> np.ndarray:
    row = []
    for model_input in catalog.model_inputs(model):
        raw = (
            values[model_input.name] if model_input.from_request else FEATURES[model_input.view or ""][model_input.name]
        )
        row.append(float(raw))  # type: ignore[arg-type]
    return np.array([row], dtype=np.float32)


@pytest.fixture
def serve(artifact_root: Path, store: OnlineStore, tmp_path: Path) -> Iterator[Any]:
    """Start a server on a catalog; yields (client, log path, components)."""
    started: list[Any] = []

    def start(catalog: Catalog, scoring_threads: int = 0) -> tuple[httpx.Client, Path, Any]:
        log_path = tmp_path / f"decisions-{len(started)}"
        parts = components(catalog, artifact_root, store, log_path, scoring_threads=scoring_threads)
        context = running(build_app(parts))
        url = context.__enter__()
        client = httpx.Client(base_url=url)
        started.append((context, client))
        return client, log_path, parts

    yield start
    for context, client in started:
        client.close()
        context.__exit__(None, None, None)


@pytest.mark.parametrize(("model", "scoring_threads"), [("default_risk", 0), ("fraud", 0), ("default_risk", 2)])
def test_decision_scores_explains_and_logs_before_answering(
    serve: Any, catalog: Catalog, store: OnlineStore, model: str, scoring_threads: int
) -> None:
    seed_features(store)
    client, log_path, parts = serve(catalog, scoring_threads)
    response = client.post(f"/v1/decisions/{model}", json=REQUEST[model])
    assert response.status_code == 200, response.text
    body = response.json()

    scorer = parts.models[model].primary.scorer
    row = expected_row(catalog, model, REQUEST[model]["values"])
    score = float(scorer.score(row)[0])
    policy = catalog.model(model).spec.decision
    assert body["score"] == pytest.approx(score, abs=1e-9)
    assert body["decision"] == ("decline" if score >= policy.threshold else "approve")
    assert (body["model"], body["version"], body["canary"]) == (model, "v1", False)
    assert body["sha256"] == catalog.model_version(model, "v1").artifact.sha256
    assert body["threshold"] == policy.threshold

    # Reasons: the largest positive contributions, in order, with the analyst's phrases.
    explanation = scorer.explain(row)
    assert sigmoid(explanation.margin) == pytest.approx(body["score"], abs=1e-5)
    inputs = catalog.model_inputs(model)
    positive = sorted(
        ((c, i) for i, c in enumerate(explanation.contributions) if c > 0), key=lambda pair: (-pair[0], pair[1])
    )
    expected = [
        (inputs[i].ref, pytest.approx(c, abs=1e-6), inputs[i].reason) for c, i in positive[: policy.reason_codes]
    ]
    assert [(r["feature"], r["contribution"], r["phrase"]) for r in body["reasons"]] == expected
    assert body["reasons"], "the fixture's applicant should have at least one adverse reason"
    contributions = [r["contribution"] for r in body["reasons"]]
    assert contributions == sorted(contributions, reverse=True)

    # Freshness of every input, and the exact vector used.
    features = body["features"]
    assert list(features) == [i.ref for i in inputs]
    stored = [i.ref for i in inputs if not i.from_request]
    assert {features[ref]["status"] for ref in stored} == {"PRESENT"}
    assert all(features[ref]["event_time"] for ref in stored)
    assert [features[i.ref]["value"] for i in inputs] == pytest.approx(row[0].tolist())

    # The record was durable before the response: it is in the file now.
    [record] = [r for r in log_records(log_path) if r["id"] == body["decision_id"]]
    assert record["kind"] == "decision"
    assert (record["score"], record["decision"], record["reasons"]) == (
        body["score"],
        body["decision"],
        body["reasons"],
    )
    assert record["features"] == features
    assert record["sha256"] == body["sha256"]
    assert record["request"] == REQUEST[model]


def test_unknown_entities_are_scored_with_defaults_when_the_policy_says_use_default(
    serve: Any, catalog: Catalog, store: OnlineStore
) -> None:
    client, _, _ = serve(catalog)
    request = {"entities": {"applicant_id": "nobody", "merchant_id": "nowhere"}, "values": {"order_amount": 10.0}}
    body = client.post("/v1/decisions/fraud", json=request).json()
    assert body["decision"] in {"approve", "decline"}
    applications = body["features"]["application_velocity:applications_1h"]
    assert applications == {"value": 0.0, "source": "default", "status": "NOT_FOUND", "event_time": None}
    email_age = body["features"]["application_velocity:email_age_days"]
    assert (email_age["value"], email_age["source"]) == (None, "missing")


def test_refuse_policy_returns_a_logged_refusal_naming_the_missing_features(
    serve: Any, catalog: Catalog, store: OnlineStore
) -> None:
    seed_features(store, applicant="half")
    store_key = "other-merchant"  # merchant_risk has nothing for it
    refusing = _with_model(
        catalog,
        "fraud",
        lambda spec: {"decision": spec.decision.model_copy(update={"on_missing": MissingPolicy.REFUSE})},
    )
    client, log_path, _ = serve(refusing)
    request = {"entities": {"applicant_id": "half", "merchant_id": store_key}, "values": {"order_amount": 10.0}}
    response = client.post("/v1/decisions/fraud", json=request)
    body = response.json()
    assert response.status_code == 200
    assert (body["decision"], body["score"], body["reasons"]) == ("refused", None, [])
    assert body["refusal"]["features"] == [
        "merchant_risk:fraud_rate_90d",
        "merchant_risk:chargeback_rate_90d",
        "merchant_risk:merchant_age_days",
    ]
    [record] = [r for r in log_records(log_path) if r["id"] == body["decision_id"]]
    assert (record["kind"], record["decision"]) == ("refusal", "refused")


@pytest.mark.parametrize(
    ("model", "request_body", "status", "error"),
    [
        (
            "fraud",
            {"entities": {"merchant_id": MERCHANT}, "values": {"order_amount": 1.0}},
            422,
            "entities.applicant_id: is required",
        ),
        (
            "fraud",
            {"entities": {"applicant_id": 7, "merchant_id": MERCHANT}, "values": {"order_amount": 1.0}},
            422,
            "entities.applicant_id: must be a string; got an integer",
        ),
        (
            "fraud",
            {"entities": {"applicant_id": "a", "merchant_id": "m", "shop": "x"}, "values": {"order_amount": 1.0}},
            422,
            "entities.shop: is not a field of this request",
        ),
        (
            "fraud",
            {"entities": {"applicant_id": "a", "merchant_id": "m"}, "values": {}},
            422,
            "values.order_amount: is required",
        ),
        (
            "fraud",
            {"entities": {"applicant_id": "a", "merchant_id": "m"}, "values": {"order_amount": "ten"}},
            422,
            "values.order_amount: must be a number; got a string",
        ),
        (
            "default_risk",
            {
                "entities": {"applicant_id": "a", "merchant_id": "m"},
                "values": {"order_amount": 1.0, "instalments": 2.5},
            },
            422,
            "values.instalments: must be an integer; got a number",
        ),
        ("fraud", {"entities": "a"}, 422, "entities: must be an object; got a string"),
        (
            "default_risk",
            {
                "entities": {"applicant_id": "a", "merchant_id": "m"},
                "values": {"order_amount": 1.0, "instalments": 10**12},
            },
            422,
            "values.instalments: must be an integer <= 2147483647",
        ),
        (
            "fraud",
            {"entities": {"applicant_id": "a", "merchant_id": "m"}, "values": {"order_amount": 1.0}, "pad": "x" * 9999},
            422,
            "pad: is not a field of this request",
        ),
        (
            "fraud",
            {"entities": {"applicant_id": "a" * 300, "merchant_id": "m"}, "values": {"order_amount": 1.0}},
            422,
            "entities.applicant_id: must be a string of length <= 256",
        ),
        ("nope", {}, 404, "model 'nope' is not served here; served: default_risk, fraud"),
    ],
)
def test_bad_requests_name_the_field_and_are_logged_as_errors(
    serve: Any, catalog: Catalog, model: str, request_body: dict[str, Any], status: int, error: str
) -> None:
    client, log_path, _ = serve(catalog)
    response = client.post(f"/v1/decisions/{model}", json=request_body)
    assert response.status_code == status
    body = response.json()
    assert body["error"] == error or body["error"].startswith(error)
    [record] = [r for r in log_records(log_path) if r["id"] == body["decision_id"]]
    assert (record["kind"], record["status"]) == ("error", status)


def test_canary_takes_its_share_and_is_reported(
    serve: Any, catalog: Catalog, store: OnlineStore, specs_dir: Path, digests: dict[str, dict[str, str]]
) -> None:
    seed_features(store)
    rollout = Rollout(primary="v1", canary=Canary(version="v2", percent=50))
    client, log_path, _ = serve(example_catalog(specs_dir, digests, {"default_risk": rollout}))
    bodies = [client.post("/v1/decisions/default_risk", json=REQUEST["default_risk"]).json() for _ in range(40)]
    canaries = [b for b in bodies if b["canary"]]
    assert 0 < len(canaries) < 40
    for body in bodies:
        assert body["version"] == ("v2" if body["canary"] else "v1")
        assert body["canary"] == (canary_bucket(body["decision_id"]) < 50)
        assert body["sha256"] == digests["default_risk"][body["version"]]
    assert len({b["score"] for b in bodies}) == 2  # two different models, same applicant
    logged = {r["id"]: r for r in log_records(log_path)}
    assert all(logged[b["decision_id"]]["canary"] == b["canary"] for b in bodies)


@pytest.mark.parametrize("scoring_threads", [0, 1])
def test_shadow_is_scored_and_logged_but_never_returned(
    serve: Any,
    catalog: Catalog,
    store: OnlineStore,
    specs_dir: Path,
    digests: dict[str, dict[str, str]],
    scoring_threads: int,
) -> None:
    seed_features(store)
    rollout = Rollout(primary="v1", shadow=Shadow(version="v2"))
    client, log_path, parts = serve(example_catalog(specs_dir, digests, {"fraud": rollout}), scoring_threads)
    body = client.post("/v1/decisions/fraud", json=REQUEST["fraud"]).json()
    assert body["version"] == "v1"
    assert "shadow" not in orjson.dumps(body).decode()
    deadline = time.monotonic() + 5
    while True:
        records = [r for r in log_records(log_path) if r["id"] == body["decision_id"]]
        if len(records) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    kinds = {r["kind"]: r for r in records}
    assert set(kinds) == {"decision", "shadow"}
    shadow = kinds["shadow"]
    shadow_scorer = parts.models["fraud"].versions["v2"].scorer
    row = expected_row(example_catalog(specs_dir, digests), "fraud", REQUEST["fraud"]["values"])
    assert (shadow["version"], shadow["sha256"]) == ("v2", digests["fraud"]["v2"])
    assert shadow["score"] == pytest.approx(float(shadow_scorer.score(row)[0]), abs=1e-9)
    assert shadow["agrees"] == (shadow["decision"] == body["decision"])
    assert shadow["caller"] == kinds["decision"]["caller"] == {"name": "anonymous", "principal": None}


def test_store_down_answers_503_fast_then_recovers(
    artifact_root: Path, catalog: Catalog, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with throwaway_redis(tmp_path_factory.mktemp("redis")) as (process, port):
        store = open_store(f"redis://127.0.0.1:{port}/0", catalog, namespace="down", timeout=0.2)
        seed_features(store)
        parts = components(catalog, artifact_root, store, tmp_path / "decisions", retry_s=0.3)
        with running(build_app(parts)) as url, httpx.Client(base_url=url) as client:
            assert client.post("/v1/decisions/fraud", json=REQUEST["fraud"]).status_code == 200
            process.kill()
            process.wait()
            first = client.post("/v1/decisions/fraud", json=REQUEST["fraud"])
            assert first.status_code == 503
            assert first.json()["error"] == "store unavailable"
            started = time.perf_counter()
            again = client.post("/v1/decisions/fraud", json=REQUEST["fraud"])
            assert again.status_code == 503
            assert time.perf_counter() - started < 0.1  # the gate answers without waiting on the store
            assert "mlplat_model_online_store_up 0.0" in client.get("/metrics").text
            assert client.get("/v2/health/live").status_code == 200
            # Redis comes back on the same port (empty): decisions resume with defaults.
            with throwaway_redis(tmp_path_factory.mktemp("redis-again"), port=port):
                deadline = time.monotonic() + 5
                while client.post("/v1/decisions/fraud", json=REQUEST["fraud"]).status_code != 200:
                    assert time.monotonic() < deadline, "decisions did not recover"
                    time.sleep(0.1)
                assert "mlplat_model_online_store_up 1.0" in client.get("/metrics").text


def _with_model(catalog: Catalog, name: str, update: Any) -> Catalog:
    objects = [
        obj.model_copy(update={"spec": obj.spec.model_copy(update=update(obj.spec))})
        if isinstance(obj, Model) and obj.metadata.name == name
        else obj
        for obj in catalog.objects()
    ]
    return Catalog(objects)


@pytest.mark.parametrize("model", ["default_risk", "fraud"])
def test_the_trained_example_models_decide_from_their_pinned_artifacts(
    repo: Path, specs_dir: Path, store: OnlineStore, tmp_path: Path, model: str
) -> None:
    from mlplat.loader import load_catalog

    pinned = load_catalog(specs_dir)
    seed_features(store)
    parts = components(pinned, repo / "models", store, tmp_path / "decisions")
    assert parts.models[model].ready, parts.models[model].problem
    with running(build_app(parts)) as url, httpx.Client(base_url=url) as client:
        body = client.post(f"/v1/decisions/{model}", json=REQUEST[model]).json()
    scorer = parts.models[model].primary.scorer
    assert scorer is not None
    row = expected_row(pinned, model, REQUEST[model]["values"])
    explanation = scorer.explain(row)
    primary = pinned.model(model).spec.rollout.primary
    assert (body["version"], body["sha256"]) == (primary, pinned.model_version(model, primary).artifact.sha256)
    assert body["score"] == pytest.approx(float(scorer.score(row)[0]), abs=1e-9)
    assert sigmoid(explanation.margin) == pytest.approx(body["score"], abs=1e-5)
    contributions = [r["contribution"] for r in body["reasons"]]
    assert contributions == sorted(contributions, reverse=True)
    assert all(c > 0 for c in contributions)
    phrases = {i.ref: i.reason for i in pinned.model_inputs(model)}
    assert all(r["phrase"] == phrases[r["feature"]] for r in body["reasons"])


def test_unexpected_failures_answer_500_without_internals_and_are_logged(
    catalog: Catalog, artifact_root: Path, tmp_path: Path
) -> None:
    class BrokenStore:
        def read(self, requests: object) -> object:
            raise RuntimeError("password=hunter2 at 10.0.0.7")

        def close(self) -> None:
            pass

    log_path = tmp_path / "decisions"
    parts = components(catalog, artifact_root, BrokenStore(), log_path)  # type: ignore[arg-type]
    with running(build_app(parts)) as url, httpx.Client(base_url=url) as client:
        response = client.post("/v1/decisions/fraud", json=REQUEST["fraud"])
    assert response.status_code == 500
    assert response.json() == {"error": "internal error", "decision_id": response.json()["decision_id"]}
    assert "hunter2" not in response.text
    [record] = log_records(log_path)
    assert (record["kind"], record["status"], record["error"]) == ("error", 500, "internal: RuntimeError")


def test_an_onnx_model_serves_v2_but_declines_no_one_without_reasons(
    serve: Any, catalog: Catalog, store: OnlineStore, artifact_root: Path
) -> None:
    from mlplat.spec.kinds import Framework
    from tests.model_fixtures import write_onnx_logistic

    weights = [0.01 * (i + 1) for i in range(13)]
    digest = write_onnx_logistic(artifact_root / "fraud" / "v9" / "model.onnx", weights, -1.0)

    def to_onnx(spec: Any) -> dict[str, Any]:
        version = spec.versions[0]
        artifact = version.artifact.model_copy(update={"uri": "fraud/v9/model.onnx", "sha256": digest})
        return {
            "framework": Framework.ONNX,
            "versions": [version.model_copy(update={"artifact": artifact})],
            "decision": spec.decision.model_copy(update={"reason_codes": 0}),
        }

    seed_features(store)
    onnx_catalog = _with_model(catalog, "fraud", to_onnx)
    client, _, _ = serve(onnx_catalog)
    assert client.get("/v2/models/fraud").json()["platform"] == "onnxruntime_onnx"
    infer = client.post(
        "/v2/models/fraud/infer",
        json={"inputs": [{"name": "input", "shape": [1, 13], "datatype": "FP32", "data": [0] * 13}]},
    )
    assert infer.json()["outputs"][0]["data"] == pytest.approx([sigmoid(-1.0)], abs=1e-6)
    # A credit decline must come with reasons: with reasonCodes 0 the model takes no decisions.
    assert client.post("/v1/decisions/fraud", json=REQUEST["fraud"]).status_code == 503


def test_an_onnx_model_asked_for_reasons_is_not_ready_for_decisions(
    catalog: Catalog, artifact_root: Path, store: OnlineStore, tmp_path: Path
) -> None:
    from mlplat.spec.kinds import Framework
    from tests.model_fixtures import write_onnx_logistic

    digest = write_onnx_logistic(artifact_root / "fraud" / "v8" / "model.onnx", [0.0] * 13, 0.0)

    def to_onnx(spec: Any) -> dict[str, Any]:
        version = spec.versions[0]
        artifact = version.artifact.model_copy(update={"uri": "fraud/v8/model.onnx", "sha256": digest})
        return {"framework": Framework.ONNX, "versions": [version.model_copy(update={"artifact": artifact})]}

    parts = components(_with_model(catalog, "fraud", to_onnx), artifact_root, store, tmp_path / "decisions")
    assert (
        parts.models["fraud"].problem
        == "version v1 cannot explain its scores, but decision.reasonCodes asks for reasons"
    )
    assert parts.models["fraud"].primary.ready
    parts.decision_log.close()


def _samples(text: str, name: str) -> list[dict[str, str]]:

    return [dict(s.labels) for f in text_string_to_metric_families(text) for s in f.samples if s.name == name]


def test_each_request_is_counted_with_its_model_version_and_outcome(
    serve: Any, store: OnlineStore, catalog: Catalog
) -> None:
    seed_features(store)
    client, _, _ = serve(catalog)
    decided = client.post("/v1/decisions/default_risk", json=REQUEST["default_risk"]).json()
    assert client.post("/v1/decisions/no_such_model", json={}).status_code == 404

    requests = _samples(client.get("/metrics").text, "mlplat_model_requests_total")

    # No caller identity in these tests: every request is the anonymous caller's.
    assert {
        "route": "decision",
        "model": "default_risk",
        "version": decided["version"],
        "outcome": decided["decision"],
        "status": "200",
        "caller": "anonymous",
    } in requests
    # A name nobody serves never becomes a label value: cardinality stays bounded by the catalog.
    assert {
        "route": "decision",
        "model": "_unknown",
        "version": "_none",
        "outcome": "error",
        "status": "404",
        "caller": "anonymous",
    } in requests


def test_past_the_in_flight_cap_decisions_are_shed_fast_and_probes_still_answer(
    artifact_root: Path, catalog: Catalog, store: OnlineStore, tmp_path: Path
) -> None:
    seed_features(store)
    parts = dataclasses.replace(components(catalog, artifact_root, store, tmp_path / "log"), max_in_flight=2)
    with running(build_app(parts)) as base, httpx.Client(base_url=base) as client:
        assert_shed_then_recovered(
            client,
            base,
            "/v1/decisions/default_risk",
            REQUEST["default_risk"],
            2,
            ("/v2/health/live", "/v2/health/ready", "/v2/models/default_risk/ready"),
            "mlplat_model_shed_requests_total",
        )


def test_the_default_cap_comes_from_the_strictest_latency_objective(
    artifact_root: Path, catalog: Catalog, store: OnlineStore, tmp_path: Path
) -> None:
    models = components(catalog, artifact_root, store, tmp_path / "log").models
    objectives = {m.spec.serving.latency_slo_ms for m in models.values()}
    assert objectives == {30, 50}  # fraud's and default_risk's
    assert decision_in_flight_limit(models) == 15  # 30 ms over 2 ms a decision
    assert decision_in_flight_limit({"default_risk": models["default_risk"]}) == 25


def test_a_padded_request_is_refused_and_its_record_stays_small(serve: Any, catalog: Catalog) -> None:
    client, log_path, _ = serve(catalog)
    request = {"entities": {"applicant_id": "a", "merchant_id": "m"}, "values": {"order_amount": 1.0}}
    padded = client.post("/v1/decisions/fraud", json={**request, "pad": "x" * 1_000_000, "p" * 100_000: 1})

    assert padded.status_code == 422
    assert padded.json()["field"] == "pad"
    [record] = [r for r in log_records(log_path) if r["id"] == padded.json()["decision_id"]]
    assert "request" not in record  # only a request that decodes is recorded, as decoded
    assert len(orjson.dumps(record)) < 2_000


def test_a_decision_record_keeps_the_request_as_decoded(serve: Any, catalog: Catalog, store: OnlineStore) -> None:
    seed_features(store)
    client, log_path, _ = serve(catalog)
    body = client.post("/v1/decisions/fraud", json=REQUEST["fraud"]).json()
    [record] = [r for r in log_records(log_path) if r["id"] == body["decision_id"]]
    assert record["request"] == REQUEST["fraud"]


def test_decisions_arriving_while_the_loop_runs_late_are_shed(
    artifact_root: Path, catalog: Catalog, store: OnlineStore, tmp_path: Path
) -> None:
    seed_features(store)
    parts = dataclasses.replace(components(catalog, artifact_root, store, tmp_path / "log"), max_queue_ms=5)
    body = json.dumps(REQUEST["default_risk"]).encode()
    with running(build_app(parts)) as base, httpx.Client(base_url=base) as client:
        assert_late_loop_sheds_then_recovers(
            client, base, "/v1/decisions/default_risk", body, "mlplat_model_shed_requests_total"
        )
