"""Applications sent to a running model server, as a checkout would send them: demo traffic for ``mlplat up``.

Each request takes the entity keys and request values of one past application of the
model's label source in the live data (a random one, seeded), so the server fetches real
stored features and logs real decisions, which ``mlplat outcomes`` and ``mlplat monitor``
then read back.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow.parquet as pq

from mlplat.catalog import Catalog
from mlplat.errors import UsageError
from mlplat.offline.sources import batch_source


@dataclass(frozen=True)
class SentDecisions:
    sent: int
    statuses: dict[int, int]
    decisions: dict[str, int]
    """Answers by decision (approve, decline, refer ...)."""


def application_requests(catalog: Catalog, model: str, data: Path, count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` decision request bodies drawn from the label source's applications under ``data``."""
    spec = catalog.model(model).spec
    if spec.training is None:
        raise UsageError(f"model {model!r} has no training label source to draw applications from")
    source = batch_source(catalog, spec.training.label_source)
    assert source.spec.path is not None
    path = data / source.spec.path
    if not path.is_file():
        raise UsageError(f"{path} does not exist; `mlplat up` (or `mlplat generate-data`) writes it")
    table = pq.read_table(path)
    keys = sorted(
        {
            catalog.entities[ref.name].spec.join_key
            for i in catalog.model_inputs(model)
            if i.view is not None
            for ref in catalog.feature_view(i.view).spec.entities
        }
    )
    rows = np.random.default_rng(seed).integers(0, table.num_rows, size=count)
    picked = table.take(rows).to_pylist()
    return [
        {
            "entities": {key: str(row[key]) for key in keys},
            "values": {value.name: row[value.name] for value in spec.request_values},
        }
        for row in picked
    ]


def send_decisions(
    url: str, model: str, requests: list[dict[str, Any]], token: str | None, timeout_s: float = 10.0
) -> SentDecisions:
    """POST each request to ``url``'s decision endpoint of ``model``; what came back."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    statuses: Counter[int] = Counter()
    decisions: Counter[str] = Counter()
    with httpx.Client(base_url=url, headers=headers, timeout=timeout_s) as client:
        for body in requests:
            response = client.post(f"/v1/decisions/{model}", json=body)
            statuses[response.status_code] += 1
            if response.status_code == 200:
                decisions[str(response.json().get("decision"))] += 1
    return SentDecisions(len(requests), dict(statuses), dict(decisions))
