"""Seeded decision logs and outcomes for trying, testing and benchmarking monitoring.

Applications are drawn from a model's point-in-time training set (the synthetic data of
:mod:`mlplat.synthetic`, or any offline root), scored by the committed artifacts as the
model server scores them, and written as the model server's decision records (same
fields, same value sources and statuses) into closed decision-log segments. Outcomes of
the decisions go to the label source's file with their decision ids. An input can be
shifted from a given day on (planted drift), and a shadow version can score beside.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from mlplat.catalog import Catalog, ModelInput
from mlplat.decision_log import segment_path
from mlplat.errors import UsageError
from mlplat.models.policy import missing_number
from mlplat.models.scoring import ScoringModel, load_model
from mlplat.monitoring.performance import DECISION_ID
from mlplat.offline.sources import batch_source, resolve_uri
from mlplat.offline.training_set import build_training_set

RECORDS_PER_SEGMENT = 40_000


@dataclass(frozen=True)
class Shift:
    """From ``since`` on, ``ref``'s present values are multiplied by ``factor`` (and moved by ``offset``)."""

    ref: str
    since: datetime
    factor: float = 1.0
    offset: float = 0.0


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate: when, how many, and what goes wrong."""

    start: datetime
    days: int
    per_day: int
    seed: int = 7
    shifts: tuple[Shift, ...] = ()
    shadow: str | None = None
    """A version to score beside the primary on every decision (a shadow record each)."""
    error_share: float = 0.002
    """Share of requests answered with an error (a bad request) instead of a decision."""
    missing: Mapping[str, float] = field(default_factory=dict)
    """Extra share of decisions whose ``ref`` the store did not have (feature health), by ref."""


@dataclass(frozen=True)
class Simulated:
    decisions: int
    records: int
    segments: int
    outcomes_path: Path


def _population(catalog: Catalog, model: str, data_root: Path) -> pa.Table:
    training = catalog.model(model).spec.training
    if training is None:
        raise UsageError(f"model {model!r} has no spec.training: no population to draw applications from")
    source = batch_source(catalog, training.label_source)
    assert source.spec.path is not None
    labels = pq.read_table(resolve_uri(data_root, source.spec.path))
    return build_training_set(catalog, labels, catalog.model(model).spec.features, data_root)


def _columns(frame: pa.Table, inputs: tuple[ModelInput, ...], rows: np.ndarray) -> dict[str, np.ndarray]:
    columns = {}
    for model_input in inputs:
        column = frame.column(model_input.name).take(pa.array(rows))
        if column.type == pa.bool_():
            column = column.cast(pa.int8())
        columns[model_input.ref] = np.asarray(
            column.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64
        )
    return columns


def _scorers(catalog: Catalog, model: str, artifact_root: Path, versions: list[str]) -> dict[str, ScoringModel]:
    spec = catalog.model(model).spec
    found = {}
    for version in versions:
        entry = catalog.model_version(model, version)
        data = (artifact_root / PurePosixPath(entry.artifact.uri)).read_bytes()
        found[version] = load_model(spec.framework, entry.artifact.uri, data)
    return found


def simulate(
    catalog: Catalog,
    model: str,
    data_root: Path,
    artifact_root: Path,
    log_dir: Path,
    outcomes_root: Path,
    config: SimulationConfig,
) -> Simulated:
    """Write ``config.days * config.per_day`` decisions of ``model`` to ``log_dir`` and their outcomes below ``outcomes_root``."""
    spec = catalog.model(model).spec
    inputs = catalog.model_inputs(model)
    frame = _population(catalog, model, data_root)
    rng = np.random.default_rng(config.seed)
    total = config.days * config.per_day
    rows = rng.integers(0, frame.num_rows, size=total)
    offsets = np.sort(rng.integers(0, config.days * 86_400_000_000, size=total))
    start_us = int(config.start.timestamp() * 1_000_000)
    times = start_us + offsets
    columns = _columns(frame, inputs, rows)
    for shift in config.shifts:
        after = times >= int(shift.since.timestamp() * 1_000_000)
        columns[shift.ref] = np.where(after, columns[shift.ref] * shift.factor + shift.offset, columns[shift.ref])
    for ref, share in config.missing.items():
        columns[ref] = np.where(rng.random(total) < share, np.nan, columns[ref])
    matrix = np.column_stack(
        [
            np.where(np.isnan(columns[i.ref]), missing_number(i, spec.decision.on_missing), columns[i.ref])
            for i in inputs
        ]
    ).astype(np.float32)
    versions = [spec.rollout.primary] + ([config.shadow] if config.shadow else [])
    scorers = _scorers(catalog, model, artifact_root, versions)
    scores = {v: s.score(matrix) for v, s in scorers.items()}
    errors = rng.random(total) < config.error_share
    label = spec.training.label if spec.training else "label"
    labels = np.asarray(frame.column(label).take(pa.array(rows)).to_numpy(zero_copy_only=False))
    ids = [f"sim-{config.seed}-{i:09d}" for i in range(total)]
    raw = np.column_stack([columns[i.ref] for i in inputs])
    log_dir.mkdir(parents=True, exist_ok=True)
    written, segments = 0, 0
    for segments, first in enumerate(range(0, total, RECORDS_PER_SEGMENT), start=1):  # one segment's worth in memory
        span = range(first, min(first + RECORDS_PER_SEGMENT, total))
        records = _records(catalog, model, inputs, raw, matrix, times, ids, errors, scores, span)
        segment_path(log_dir, segments).write_bytes(b"\n".join(records) + b"\n")
        written += len(records)
    decided = ~errors
    outcomes_path = _write_outcomes(catalog, model, outcomes_root, ids, times, labels, decided, label)
    return Simulated(int(decided.sum()), written, segments, outcomes_path)


def _iso(micros: int) -> str:
    return datetime.fromtimestamp(micros / 1_000_000, UTC).isoformat()


def _feature_record(model_input: ModelInput, raw: float, scored: float) -> dict[str, object]:
    if model_input.from_request:
        return {"value": raw, "source": "request", "status": None, "event_time": None}
    if math.isnan(raw):
        value = None if math.isnan(scored) else scored
        return {
            "value": value,
            "source": "missing" if value is None else "default",
            "status": "NOT_FOUND",
            "event_time": None,
        }
    return {"value": raw, "source": "store", "status": "PRESENT", "event_time": None}


def _records(
    catalog: Catalog,
    model: str,
    inputs: tuple[ModelInput, ...],
    raw: np.ndarray,
    matrix: np.ndarray,
    times: np.ndarray,
    ids: list[str],
    errors: np.ndarray,
    scores: Mapping[str, np.ndarray],
    span: range,
) -> list[bytes]:
    spec = catalog.model(model).spec
    primary = spec.rollout.primary
    threshold = spec.decision.threshold
    sha = {v: catalog.model_version(model, v).artifact.sha256 for v in scores}
    lines = []
    for n in span:
        decision_id = ids[n]
        when = _iso(int(times[n]))
        if errors[n]:
            lines.append(
                orjson.dumps(
                    {
                        "id": decision_id,
                        "time": when,
                        "model": model,
                        "kind": "error",
                        "status": 400,
                        "error": "request: entities.applicant_id is required",
                    }
                )
            )
            continue
        features = {i.ref: _feature_record(i, float(raw[n, k]), float(matrix[n, k])) for k, i in enumerate(inputs)}
        score = float(scores[primary][n])
        outcome = "decline" if score >= threshold else "approve"
        lines.append(
            orjson.dumps(
                {
                    "id": decision_id,
                    "time": when,
                    "model": model,
                    "kind": "decision",
                    "version": primary,
                    "sha256": sha[primary],
                    "canary": False,
                    "decision": outcome,
                    "score": score,
                    "threshold": threshold,
                    "features": features,
                }
            )
        )
        for version, shadow_scores in scores.items():
            if version == primary:
                continue
            shadow = float(shadow_scores[n])
            verdict = "decline" if shadow >= threshold else "approve"
            lines.append(
                orjson.dumps(
                    {
                        "id": decision_id,
                        "time": when,
                        "kind": "shadow",
                        "model": model,
                        "version": version,
                        "sha256": sha[version],
                        "score": shadow,
                        "decision": verdict,
                        "agrees": verdict == outcome,
                    }
                )
            )
    return lines


def _write_outcomes(
    catalog: Catalog,
    model: str,
    root: Path,
    ids: list[str],
    times: np.ndarray,
    labels: np.ndarray,
    decided: np.ndarray,
    label: str,
) -> Path:
    training = catalog.model(model).spec.training
    assert training is not None
    source = batch_source(catalog, training.label_source)
    assert source.spec.path is not None
    path = Path(resolve_uri(root, source.spec.path))
    path.parent.mkdir(parents=True, exist_ok=True)
    keep = np.flatnonzero(decided)
    table = pa.table(
        {
            DECISION_ID: pa.array([ids[i] for i in keep], pa.string()),
            source.spec.timestamp_field or "event_timestamp": pa.array(times[keep], pa.timestamp("us", tz="UTC")),
            label: pa.array(labels[keep].astype(np.int32), pa.int32()),
        }
    )
    pq.write_table(table, path)
    return path


def days_ago(now: datetime, days: int) -> datetime:
    """Midnight UTC ``days`` before ``now``'s day."""
    return datetime(now.year, now.month, now.day, tzinfo=UTC) - timedelta(days=days)
