"""The Open Inference Protocol (V2) over real HTTP: health, metadata, inference, errors."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from mlplat.catalog import Catalog
from mlplat.online_store import OnlineStore
from services.model_server.app import build_app
from services.model_server.v2 import MAX_INFER_ROWS
from tests.model_fixtures import example_catalog, training_data
from tests.servers import running
from tests.services.model_server.conftest import components


@pytest.fixture
def client(catalog: Catalog, artifact_root: Path, store: OnlineStore, tmp_path: Path) -> Iterator[httpx.Client]:
    app = build_app(components(catalog, artifact_root, store, tmp_path / "decisions"))
    with running(app) as url, httpx.Client(base_url=url) as client:
        yield client


def test_health_answers_the_protocol_objects(client: httpx.Client) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    for path in ("/v2/models/fraud/ready", "/v2/models/fraud/versions/v1/ready"):
        response = client.get(path)
        assert (response.status_code, response.json()) == (200, {"name": "fraud", "ready": True}), path


def test_server_metadata(client: httpx.Client) -> None:
    assert client.get("/v2").json() == {"name": "mlplat-model-server", "version": "0.1.0", "extensions": []}


def test_model_metadata_describes_the_input_tensor(client: httpx.Client) -> None:
    expected = {
        "name": "default_risk",
        "versions": ["v1"],
        "platform": "xgboost",
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 19]}],
        "outputs": [{"name": "score", "datatype": "FP64", "shape": [-1]}],
    }
    assert client.get("/v2/models/default_risk").json() == expected
    assert client.get("/v2/models/default_risk/versions/v1").json() == expected
    assert client.get("/v2/models/fraud").json()["platform"] == "lightgbm"


@pytest.mark.parametrize("model", ["default_risk", "fraud"])
def test_infer_returns_the_in_process_scores(
    client: httpx.Client, model: str, catalog: Catalog, artifact_root: Path, store: OnlineStore, tmp_path: Path
) -> None:
    width = len(catalog.model(model).spec.features)
    rows, _ = training_data(width, seed=11)
    rows = rows[:3]
    request = {
        "id": "req-42",
        "parameters": {"content_type": "np"},
        "inputs": [{"name": "input", "shape": [3, width], "datatype": "FP32", "data": rows.reshape(-1).tolist()}],
        "outputs": [{"name": "score"}],
    }
    response = client.post(f"/v2/models/{model}/infer", json=request)
    assert response.status_code == 200, response.text
    body = response.json()
    local = components(catalog, artifact_root, store, tmp_path / "unused").models[model].primary.scorer
    assert local is not None
    assert body["model_name"] == model
    assert body["model_version"] == "v1"
    assert body["id"] == "req-42"
    [output] = body["outputs"]
    assert (output["name"], output["datatype"], output["shape"]) == ("score", "FP64", [3])
    assert output["data"] == pytest.approx(local.score(rows).tolist(), abs=1e-7)


def test_infer_accepts_nested_data_and_a_single_row_shape(client: httpx.Client) -> None:
    row = np.zeros(13).tolist()
    nested = {"inputs": [{"name": "input", "shape": [1, 13], "datatype": "FP64", "data": [row]}]}
    flat = {"inputs": [{"name": "input", "shape": [13], "datatype": "INT32", "data": [0] * 13}]}
    a = client.post("/v2/models/fraud/versions/v1/infer", json=nested).json()
    b = client.post("/v2/models/fraud/infer", json=flat).json()
    assert a["outputs"][0]["data"] == b["outputs"][0]["data"]
    assert "id" not in a


def test_infer_scores_a_batch_of_the_most_rows_a_request_may_hold(client: httpx.Client) -> None:
    rows = [[0.5] * 13] * MAX_INFER_ROWS
    body = {"inputs": [{"name": "input", "shape": [MAX_INFER_ROWS, 13], "datatype": "FP32", "data": rows}]}
    response = client.post("/v2/models/fraud/infer", json=body)
    assert response.status_code == 200
    assert response.json()["outputs"][0]["shape"] == [MAX_INFER_ROWS]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({}, 400, "inputs: is required"),
        (
            {"inputs": [{"name": "input", "shape": [13], "datatype": "FP32", "data": [0] * 13}] * 2},
            400,
            "inputs: send a list of one tensor",
        ),
        (
            {"inputs": [{"name": "features", "shape": [1, 13], "datatype": "FP32", "data": [0] * 13}]},
            400,
            "inputs[0].name: 'features' is not an input of this model; its one input is 'input'",
        ),
        (
            {"inputs": [{"name": "input", "shape": [1, 13], "datatype": "FP32", "data": [1e39] * 13}]},
            400,
            "inputs[0].data: holds a value that is not a finite float32 number",
        ),
        (
            {"inputs": [{"name": "input", "shape": [1, 13], "datatype": "FP32", "data": [0] * 13}], "pad": 1},
            400,
            "pad: is not a field of this request",
        ),
        (
            {"inputs": [{"name": "input", "shape": [1, 13], "datatype": "FP32", "data": [0] * 13}], "id": 7},
            400,
            "id: must be a string; got an integer",
        ),
        (
            {"inputs": [{"name": "input", "shape": [1, 13], "datatype": "BYTES", "data": ["x"] * 13}]},
            400,
            "inputs[0].datatype: 'BYTES' is not a numeric",
        ),
        (
            {"inputs": [{"name": "input", "shape": [1, 12], "datatype": "FP32", "data": [0] * 12}]},
            400,
            "inputs[0].shape: [1, 12] does not fit this model; send [n, 13]",
        ),
        (
            {"inputs": [{"name": "input", "shape": [2, 13], "datatype": "FP32", "data": [0] * 13}]},
            400,
            "inputs[0].data: 13 values do not fill shape [2, 13]",
        ),
        (
            {"inputs": [{"name": "input", "shape": [2, 13], "datatype": "FP32", "data": [[0] * 13, [0] * 12]}]},
            400,
            "inputs[0].data: 2 rows do not fill shape [2, 13]",
        ),
        (
            {"inputs": [{"name": "input", "shape": [4097, 13], "datatype": "FP32", "data": [0] * 13 * 4097}]},
            413,
            "inputs[0].shape: [4097, 13] is 4097 rows; at most 4096 per request: split the batch",
        ),
        (
            {"inputs": [{"name": "input", "shape": [1, 13], "datatype": "FP32", "data": ["a"] * 13}]},
            400,
            "inputs[0].data: send numbers",
        ),
        (
            {
                "inputs": [{"name": "input", "shape": [13], "datatype": "FP32", "data": [0] * 13}],
                "outputs": [{"name": "probabilities"}],
            },
            400,
            "outputs[0].name: 'probabilities' is not an output",
        ),
    ],
)
def test_bad_infer_requests_get_the_protocol_error_object(
    client: httpx.Client, body: dict[str, object], status: int, message: str
) -> None:
    response = client.post("/v2/models/fraud/infer", json=body)
    assert response.status_code == status
    assert list(response.json()) == ["error", "field"]
    assert response.json()["error"].startswith(message)
    assert message.startswith(response.json()["field"] + ":")


def test_unknown_paths_and_methods_get_the_error_object(client: httpx.Client) -> None:
    missing = client.get("/v3")
    assert missing.status_code == 404
    assert "GET /openapi.json lists the" in missing.json()["error"]
    response = client.get("/v2/models/fraud/infer")
    assert (response.status_code, response.json()) == (405, {"error": "Method Not Allowed"})
    assert response.headers["allow"] == "POST"
    assert set(client.post("/v2/health/live").headers["allow"].split(", ")) == {"GET", "HEAD"}


def test_unknown_models_and_versions_are_404(client: httpx.Client) -> None:
    for method, path in [
        ("GET", "/v2/models/nope"),
        ("GET", "/v2/models/nope/ready"),
        ("GET", "/v2/models/fraud/versions/v9"),
        ("POST", "/v2/models/nope/infer"),
        ("POST", "/v2/models/fraud/versions/v9/infer"),
    ]:
        response = client.request(method, path, json={})
        assert response.status_code == 404, path
        assert "error" in response.json()
    not_json = client.post("/v2/models/fraud/infer", content=b"{not json")
    assert (not_json.status_code, not_json.json()["field"]) == (400, "body")
    assert not_json.json()["error"].startswith("body: is not valid JSON")


def test_a_model_with_a_bad_checksum_is_not_ready_and_says_so(
    specs_dir: Path, digests: dict[str, dict[str, str]], artifact_root: Path, store: OnlineStore, tmp_path: Path
) -> None:
    tampered = example_catalog(specs_dir, {**digests, "fraud": {"v1": "f" * 64}})
    app = build_app(components(tampered, artifact_root, store, tmp_path / "decisions"))
    with running(app) as url, httpx.Client(base_url=url) as client:
        assert client.get("/v2/health/live").status_code == 200
        ready = client.get("/v2/health/ready")
        assert (ready.status_code, ready.json()) == (503, {"ready": False})
        fraud = client.get("/v2/models/fraud/ready")
        assert (fraud.status_code, fraud.json()) == (503, {"name": "fraud", "ready": False})
        assert client.get("/v2/models/default_risk/ready").json() == {"name": "default_risk", "ready": True}
        infer = client.post("/v2/models/fraud/infer", json={"inputs": []})
        assert infer.status_code == 503
        assert infer.json() == {"error": "model fraud version v1 is not ready"}
        metrics = client.get("/metrics").text
        assert 'mlplat_model_version_ready{model="fraud",version="v1"} 0.0' in metrics


def test_objects_loaded_at_startup_are_kept_out_of_garbage_collections_while_serving(
    catalog: Catalog, artifact_root: Path, store: OnlineStore, tmp_path: Path
) -> None:
    parts = components(catalog, artifact_root, store, tmp_path / "decisions")
    loaded = parts.models["fraud"]
    assert gc.get_freeze_count() == 0
    with running(build_app(parts)) as url, httpx.Client(base_url=url) as client:
        assert client.get("/v2/health/ready").status_code == 200
        # The served models were frozen at startup: full collections no longer walk them.
        assert gc.get_freeze_count() > 0
        assert gc.is_tracked(loaded)
        assert all(o is not loaded for o in gc.get_objects(generation=2))
    assert gc.get_freeze_count() == 0  # shutdown hands them back to the collector


def test_an_oversized_body_is_413_before_it_is_read(client: httpx.Client) -> None:
    from services.model_server.app import Components

    MAX_BODY_BYTES = Components.max_body_bytes  # noqa: N806 - the default limit
    too_large = b" " * (MAX_BODY_BYTES + 1)
    message = f"body: {MAX_BODY_BYTES + 1} bytes; at most {MAX_BODY_BYTES}"
    infer = client.post("/v2/models/fraud/infer", content=too_large)
    assert (infer.status_code, infer.json()) == (413, {"error": message})
    decision = client.post("/v1/decisions/fraud", content=too_large)
    assert decision.status_code == 413
    assert decision.json()["error"] == message
    assert "decision_id" in decision.json()  # refused requests are logged too
