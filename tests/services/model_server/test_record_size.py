"""The decision records the real model server writes stay within the bound `mlplat validate` checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlplat.catalog import Catalog
from mlplat.decision_log import read_decision_log
from mlplat.decision_record_size import MAX_KEY_CHARS, MAX_TEXT_CHARS, decision_record_bound
from mlplat.online_store import OnlineStore
from mlplat.spec.kinds import MissingPolicy, Model, RequestValue
from mlplat.spec.types import DType
from services import field_types
from services.field_types import FLOAT32_MAX
from services.model_server.app import build_app
from tests.servers import running
from tests.services.model_server.conftest import components, seed_features

#: A character orjson escapes to six bytes: the costliest one a request can send.
COSTLY = "\u0001"


def test_the_bound_counts_the_value_limits_the_server_enforces() -> None:
    assert (MAX_KEY_CHARS, MAX_TEXT_CHARS) == (field_types.MAX_KEY_LENGTH, field_types.MAX_STRING_LENGTH)


def _with_text_value(catalog: Catalog, model: str) -> Catalog:
    """``model`` with a text request value beside its numbers, and refusing on missing features."""
    spec = catalog.models[model].spec
    values = [*spec.request_values, RequestValue(name="note", dtype=DType.STRING)]
    decision = spec.decision.model_copy(update={"on_missing": MissingPolicy.REFUSE})
    changed = catalog.models[model].model_copy(
        update={"spec": spec.model_copy(update={"request_values": values, "decision": decision})}
    )
    return Catalog(
        [*(o for o in catalog.objects() if not (isinstance(o, Model) and o.metadata.name == model)), changed]
    )


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
        if value.dtype is DType.STRING:
            values[value.name] = COSTLY * MAX_TEXT_CHARS
        elif value.dtype in (DType.INT32, DType.INT64):
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


def test_a_record_holding_a_text_request_value_fits_the_bound(serve: Any, catalog: Catalog) -> None:
    # The largest records are those that keep a 65,536-character text value, however the request ends.
    changed = _with_text_value(catalog, "fraud")
    client, log_path = serve(changed)
    client.post("/v1/decisions/fraud", json=_largest_request(changed, "fraud"))
    (record,) = read_decision_log(log_path)
    assert record["request"]["values"]["note"] == COSTLY * MAX_TEXT_CHARS
    size = len(_record_bytes(log_path))
    assert 6 * MAX_TEXT_CHARS < size <= decision_record_bound(changed, "fraud")


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
