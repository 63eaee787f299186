"""Triton's own HTTP client (tritonclient) against the running model server: the protocol, as clients read it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from mlplat.catalog import Catalog
from mlplat.online_store import OnlineStore
from services.model_server.app import build_app
from tests.model_fixtures import example_catalog, training_data
from tests.servers import running
from tests.services.model_server.conftest import components

pytestmark = pytest.mark.slow


@pytest.fixture
def client(
    catalog: Catalog, artifact_root: Path, store: OnlineStore, tmp_path: Path
) -> Iterator[triton.InferenceServerClient]:
    with running(build_app(components(catalog, artifact_root, store, tmp_path / "decisions"))) as url:
        connection = triton.InferenceServerClient(url.removeprefix("http://"))
        yield connection
        connection.close()


def test_health_and_metadata_read_as_the_client_expects(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("fraud")
    assert client.is_model_ready("fraud", "v1")
    assert client.get_server_metadata()["name"] == "mlplat-model-server"
    metadata = client.get_model_metadata("default_risk")
    assert metadata["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 19]}]
    assert metadata["outputs"] == [{"name": "score", "datatype": "FP64", "shape": [-1]}]


def test_the_client_scores_rows_as_the_model_does_in_process(
    client: triton.InferenceServerClient, catalog: Catalog, artifact_root: Path, store: OnlineStore, tmp_path: Path
) -> None:
    rows, _ = training_data(13, seed=5)
    rows = rows[:4].astype(np.float32)
    tensor = triton.InferInput("input", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows, binary_data=False)

    result = client.infer(
        "fraud", [tensor], request_id="r-1", outputs=[triton.InferRequestedOutput("score", binary_data=False)]
    )

    local = components(catalog, artifact_root, store, tmp_path / "local").models["fraud"].primary.scorer
    assert local is not None
    assert result.get_response()["id"] == "r-1"
    np.testing.assert_allclose(result.as_numpy("score"), local.score(rows), atol=1e-7)


def test_a_wrong_input_name_is_a_400_the_client_reports(client: triton.InferenceServerClient) -> None:
    tensor = triton.InferInput("features", [1, 13], "FP32")
    tensor.set_data_from_numpy(np.zeros((1, 13), dtype=np.float32), binary_data=False)
    with pytest.raises(InferenceServerException) as raised:
        client.infer("fraud", [tensor])
    assert raised.value.status() == "400"
    assert "'features' is not an input of this model; its one input is 'input'" in raised.value.message()


def test_a_model_that_cannot_serve_is_not_ready_to_the_client(
    specs_dir: Path, digests: dict[str, dict[str, str]], artifact_root: Path, store: OnlineStore, tmp_path: Path
) -> None:
    tampered = example_catalog(specs_dir, {**digests, "fraud": {"v1": "f" * 64}})
    with running(build_app(components(tampered, artifact_root, store, tmp_path / "decisions"))) as url:
        connection = triton.InferenceServerClient(url.removeprefix("http://"))
        assert connection.is_server_live()
        assert not connection.is_server_ready()
        assert not connection.is_model_ready("fraud")
        assert connection.is_model_ready("default_risk")
        connection.close()
