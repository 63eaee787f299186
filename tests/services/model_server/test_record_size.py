"""The decision records the real model server writes stay within the bound `mlplat validate` checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlplat.catalog import Catalog
from mlplat.decision_log import read_decision_log
from mlplat.decision_record_size import MAX_KEY_CHARS, decision_record_bound
from mlplat.online_store import OnlineStore
from mlplat.spec.types import DType
from services import field_types
from services.field_types import FLOAT32_MAX
from services.model_server.app import build_app
from tests.servers import running
from tests.services.model_server.conftest import components, seed_features

#: A character orjson escapes to six bytes: the costliest one a request can send.
COSTLY = "\u0001"


def test_the_bound_counts_the_value_limits_the_server_enforces() -> None:
    assert field_types.MAX_KEY_LENGTH == MAX_KEY_CHARS


@pytest.fixture
def serve(artifact_root: Path, store: OnlineStore, tmp_path: Path) -> Iterator[Any]:
    contexts: list[Any] = []

    def start(catalog: Catalog) -> tuple[httpx.Client, Path]:
        log_path = tmp_path / f"decisions-{len(contexts)}"
        context = running(build_app(components(catalog, artifact_root, store, log_path)))
        client = httpx.Client(base_url=context.__enter__(), timeout=30)
        contexts.append((context, client))
        return client, log_path

    yield start
    for context, client in contexts:
        client.close()
        context.__exit__(None, None, None)


APPLICANT, MERCHANT = COSTLY * MAX_KEY_CHARS, "\u0002" * MAX_KEY_CHARS


def _largest_request(catalog: Catalog, model: str) -> dict[str, Any]:
    """Every entity key at its longest and costliest, every number at its longest."""
    views = {ref.partition(":")[0] for ref in catalog.models[model].spec.features} & set(catalog.feature_views)
    keys = {key.request_key for view in views for key in catalog.join_keys(view)}
    assert keys <= {"applicant_id", "merchant_id"}
    entities = {key: APPLICANT if key == "applicant_id" else MERCHANT for key in keys}
    values: dict[str, Any] = {}
    for value in catalog.models[model].spec.request_values:
        if value.dtype in (DType.INT32, DType.INT64):
            values[value.name] = -(2**31)
        else:
            values[value.name] = -FLOAT32_MAX
    return {"entities": entities, "values": values}


@pytest.mark.parametrize("model", ["default_risk", "fraud"])
def test_a_decision_record_of_the_largest_request_fits_the_bound(
    serve: Any, catalog: Catalog, store: OnlineStore, model: str
) -> None:
    seed_features(store, applicant=APPLICANT, merchant=MERCHANT)
    client, log_path = serve(catalog)
    response = client.post(f"/v1/decisions/{model}", json=_largest_request(catalog, model))
    assert response.status_code == 200, response.text
    (record,) = read_decision_log(log_path)
    assert record["kind"] == "decision"
    size = len(_record_bytes(log_path))
    bound = decision_record_bound(catalog, model)
    assert size <= bound
    assert size >= bound / 4  # a bound, not a guess: it follows the record


@pytest.mark.parametrize(
    ("path", "body"),
    [
        # An unknown field with a name as long as the body limit allows.
        ("/v1/decisions/fraud", b'{"' + b"x" * 1_000_000 + b'": 1}'),
        # A value of the wrong type whose text is huge.
        ("/v1/decisions/fraud", b'{"entities": {"applicant_id": ["' + b"y" * 1_000_000 + b'"]}}'),
        # A model no spec names, with a name as long as the server reads.
        ("/v1/decisions/" + "m" * 8000, b"{}"),
    ],
    ids=["unknown-field", "wrong-type", "unknown-model"],
)
def test_a_refused_request_makes_a_small_error_record(serve: Any, catalog: Catalog, path: str, body: bytes) -> None:
    # What a refused request quotes (field, value, model name) is clipped in its record and answer.
    client, log_path = serve(catalog)
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    assert len(response.content) < 4096
    (record,) = read_decision_log(log_path)
    assert record["kind"] == "error"
    assert len(_record_bytes(log_path)) < 4096


def _record_bytes(log_path: Path) -> bytes:
    """The one record's bytes as the sink wrote them (what Kinesis would be sent)."""
    lines = [
        line
        for segment in sorted(log_path.iterdir())
        for line in segment.read_bytes().split(b"\n")
        if line.strip(b"\0")
    ]
    (line,) = lines
    return line
