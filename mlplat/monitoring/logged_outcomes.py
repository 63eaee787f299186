"""Outcomes of the decisions a local model server logged, from the synthetic data's ground truth.

On the local platform the applicants are synthetic (:mod:`mlplat.synthetic`): whether one
defaults is drawn from a logistic function of their features as of the application. The
decision log keeps exactly those features (the vector each decision was scored on), so the
outcome of a logged decision comes from the same ground truth the training labels came
from, and it is joined to the decision by its id, as a loan servicing system would record
it. Each label is drawn once per decision (a hash of the seed, the decision id and the
label: the same log gives the same outcomes), and is recorded when it becomes known: at
the decision's time plus the model's ``training.labelWindow``, so a report as of today
sees none of them and one dated after the window sees them all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mlplat.catalog import Catalog
from mlplat.decision_log import read_decision_log
from mlplat.errors import UsageError
from mlplat.monitoring.performance import DECISION_ID
from mlplat.offline.sources import batch_source, resolve_uri
from mlplat.synthetic import GROUND_TRUTH, MISSING_VALUES

SERVED = ("store", "request")


@dataclass(frozen=True)
class WrittenOutcomes:
    path: Path
    decisions: int
    """Decisions with an outcome row."""
    positives: int
    """Decisions whose label came out 1 (a default, a fraud)."""


def _uniform(seed: int, decision_id: str, label: str) -> float:
    digest = hashlib.sha256(f"{seed}:{decision_id}:{label}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _truth_inputs(record: Mapping[str, Any]) -> dict[str, float]:
    """The record's served values by feature name (``bureau_profile:fico_score`` -> ``fico_score``); missing ones filled."""
    found: dict[str, float] = {}
    for ref, feature in (record.get("features") or {}).items():
        name = ref.partition(":")[2]
        value = feature.get("value")
        if feature.get("source") in SERVED and value is not None:
            found[name] = float(value)
        elif name in MISSING_VALUES:
            found[name] = float(MISSING_VALUES[name])
    return found


def _label(label: str, decision_id: str, inputs: Mapping[str, float], seed: int) -> int | None:
    logit = GROUND_TRUTH[label]
    try:
        x = {name: np.asarray([value]) for name, value in inputs.items()}
        probability = float(1.0 / (1.0 + np.exp(-logit(x)[0])))
    except KeyError:  # an input of this label's truth is not one of the model's
        return None
    return int(_uniform(seed, decision_id, label) < probability)


def write_logged_outcomes(
    catalog: Catalog, model: str, decision_log: Path, outcomes_root: Path, seed: int = 7
) -> WrittenOutcomes:
    """Write the outcomes of ``model``'s logged decisions to its label source's file below ``outcomes_root``."""
    training = catalog.model(model).spec.training
    if training is None:
        raise UsageError(f"model {model!r} has no training section: no label to draw outcomes of")
    if training.label not in GROUND_TRUTH:
        raise UsageError(
            f"the synthetic ground truth knows {', '.join(sorted(GROUND_TRUTH))}; {model!r} is trained on "
            f"{training.label!r}"
        )
    source = batch_source(catalog, training.label_source)
    assert source.spec.path is not None
    time_field = source.spec.timestamp_field or "event_timestamp"
    window = training.label_window or timedelta(0)
    rows: list[dict[str, Any]] = []
    for record in read_decision_log(decision_log):
        if record.get("model") != model or record.get("kind") != "decision":
            continue
        label = _label(training.label, str(record["id"]), _truth_inputs(record), seed)
        if label is None:
            raise UsageError(
                f"decision {record['id']} lacks inputs the ground truth of {training.label!r} needs; "
                f"it reads {', '.join(sorted(MISSING_VALUES))} and the request values"
            )
        decided = datetime.fromisoformat(str(record["time"]))
        row = {DECISION_ID: str(record["id"]), time_field: decided, training.label: label}
        if source.spec.created_timestamp_field:
            row[source.spec.created_timestamp_field] = decided + window
        entities = (record.get("request") or {}).get("entities") or {}
        row.update({k: str(v) for k, v in entities.items()})
        rows.append(row)
    if not rows:
        raise UsageError(f"{decision_log} holds no decision of {model!r}; take some with the running model server")
    path = Path(resolve_uri(outcomes_root, source.spec.path))
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows)
    stamps = [name for name in (time_field, source.spec.created_timestamp_field) if name]
    for name in stamps:
        table = table.set_column(
            table.schema.get_field_index(name), name, table.column(name).cast(pa.timestamp("us", tz="UTC"))
        )
    pq.write_table(table, path)
    return WrittenOutcomes(path, len(rows), sum(int(row[training.label]) for row in rows))
