"""``mlplat train``: a Model spec in, a pinned artifact, its metrics and a model card out.

The training set is built point in time from the spec's label source, the most recent
``training.holdout`` of events is kept out for evaluation, and the model is fitted
deterministically (one thread, the spec's seed) so the same data and seed give a
byte-identical artifact. Artifacts are written only in formats that cannot run code:
XGBoost UBJ and LightGBM text.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mlplat.catalog import Catalog
from mlplat.errors import UsageError
from mlplat.offline.engine import Engine
from mlplat.offline.sources import batch_source, resolve_uri
from mlplat.offline.training_set import build_training_set
from mlplat.registry import Registry
from mlplat.spec.kinds import Framework, Model, Training
from mlplat.spec.types import DType
from mlplat.training.frameworks import fit
from mlplat.training.metrics import Evaluation, evaluate
from mlplat.training.model_card import render_model_card

ARTIFACT_NAMES = {Framework.XGBOOST: "model.ubj", Framework.LIGHTGBM: "model.txt"}


@dataclass(frozen=True)
class TrainOptions:
    """Where training reads and writes."""

    data_root: Path
    """Offline root: the label source's and the views' relative paths resolve below it."""
    artifact_root: Path
    """Artifacts go to ``<artifact_root>/<artifact uri>``; the spec's URIs are relative to it."""
    version: str | None = None
    """Version to train. Left out: the newest version the spec lists."""
    engine: Engine = Engine.DUCKDB
    """Engine of the point-in-time join."""


@dataclass(frozen=True)
class Split:
    """A time-based split: events before ``holdout_start`` train, the rest evaluate."""

    holdout_start: datetime
    train: np.ndarray
    holdout: np.ndarray


@dataclass(frozen=True)
class TrainedModel:
    """What a training run produced."""

    model: str
    version: str
    framework: Framework
    artifact_uri: str
    artifact_path: Path
    sha256: str
    metrics_path: Path
    card_path: Path
    train: Evaluation
    holdout: Evaluation
    holdout_start: datetime


def artifact_uri(model: Model, version: str) -> str:
    """The spec's URI for ``version``, or ``<model>/<version>/model.<ext>`` for a version not listed yet."""
    for listed in model.spec.versions:
        if listed.name == version:
            return listed.artifact.uri
    return f"{model.metadata.name}/{version}/{ARTIFACT_NAMES[model.spec.framework]}"


def time_split(timestamps: np.ndarray, holdout_micros: int) -> Split:
    """Events in the last ``holdout_micros`` of the data evaluate; everything earlier trains."""
    cutoff = int(timestamps.max()) - holdout_micros
    holdout = timestamps > cutoff
    start = pa.scalar(cutoff, pa.int64()).cast(pa.timestamp("us", tz="UTC")).as_py()
    return Split(start, np.flatnonzero(~holdout), np.flatnonzero(holdout))


def feature_matrix(table: pa.Table, names: Sequence[str], dtypes: Sequence[DType]) -> np.ndarray:
    """The model inputs as float64 columns in spec order; nulls become NaN (missing to the trees)."""
    columns = []
    for name, dtype in zip(names, dtypes, strict=True):
        if not dtype.is_numeric:
            raise UsageError(f"model input {name!r} is {dtype}; mlplat train handles numeric and bool inputs only")
        column = table.column(name)
        if dtype is DType.BOOL:
            column = column.cast(pa.int8())
        columns.append(column.cast(pa.float64()).to_numpy(zero_copy_only=False))
    return np.column_stack(columns) if columns else np.empty((table.num_rows, 0))


def _training(model: Model) -> Training:
    if model.spec.training is None:
        raise UsageError(f"model {model.metadata.name!r} has no spec.training; add labelSource and label to train it")
    if model.spec.framework not in ARTIFACT_NAMES:
        raise UsageError(
            f"model {model.metadata.name!r} is {model.spec.framework}; mlplat train trains xgboost and lightgbm models"
        )
    return model.spec.training


def _labels(catalog: Catalog, training: Training, root: Path) -> pa.Table:
    source = batch_source(catalog, training.label_source)
    assert source.spec.path is not None
    path = resolve_uri(root, source.spec.path)
    if not Path(path).exists():
        raise UsageError(
            f"label file {path} does not exist; run `mlplat generate-data --data {root}` or point --data at it"
        )
    labels = pq.read_table(path)
    if training.label not in labels.schema.names:
        raise UsageError(f"label column {training.label!r} is not in {path}; it has {', '.join(labels.schema.names)}")
    return labels


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def train_model(catalog: Catalog, name: str, options: TrainOptions, registry: Registry | None = None) -> TrainedModel:
    """Train ``name`` from its spec, write artifact, metrics and model card, and record the version."""
    model = catalog.model(name)
    training = _training(model)
    version = options.version or model.spec.versions[-1].name
    inputs = catalog.model_inputs(name)
    labels = _labels(catalog, training, options.data_root)
    frame = build_training_set(catalog, labels, model.spec.features, options.data_root, engine=options.engine)
    names = [i.name for i in inputs]
    features = feature_matrix(frame, names, [i.dtype for i in inputs])
    target = frame.column(training.label).cast(pa.int64()).to_numpy()
    micros = frame.column("event_timestamp").cast(pa.int64()).to_numpy()
    split = time_split(micros, int(training.holdout.total_seconds() * 1_000_000))
    if len(split.train) == 0 or len(split.holdout) == 0:
        raise UsageError(
            f"holdout {training.holdout} leaves {len(split.train)} training and {len(split.holdout)} holdout events; "
            "shorten spec.training.holdout or add data"
        )
    fitted = fit(
        model.spec.framework,
        features[split.train],
        target[split.train],
        names,
        dict(training.params),
        training.seed,
    )
    train_eval = evaluate(target[split.train], fitted.predict(features[split.train]))
    holdout_eval = evaluate(target[split.holdout], fitted.predict(features[split.holdout]))
    uri = artifact_uri(model, version)
    artifact = options.artifact_root / PurePosixPath(uri)
    _write_atomically(artifact, fitted.artifact)
    digest = hashlib.sha256(fitted.artifact).hexdigest()
    metrics = {
        "model": name,
        "version": version,
        "framework": model.spec.framework.value,
        "artifact": uri,
        "sha256": digest,
        "features": list(model.spec.features),
        "params": dict(training.params),
        "seed": training.seed,
        "holdout_start": split.holdout_start.isoformat(),
        "train": train_eval.as_dict(),
        "holdout": holdout_eval.as_dict(),
        "importance": fitted.importance,
    }
    metrics_path = artifact.with_name("metrics.json")
    _write_atomically(metrics_path, (json.dumps(metrics, indent=2, sort_keys=True) + "\n").encode())
    (artifact.with_name(artifact.name + ".sha256")).write_text(f"{digest}  {artifact.name}\n", encoding="utf-8")
    card_path = artifact.with_name("MODEL_CARD.md")
    card = render_model_card(model, version, uri, digest, metrics, _data_summary(frame, split, training))
    _write_atomically(card_path, card.encode())
    if registry is not None:
        registry.record_model_version(name, version, digest, uri, _registry_metrics(train_eval, holdout_eval))
    return TrainedModel(
        name,
        version,
        model.spec.framework,
        uri,
        artifact,
        digest,
        metrics_path,
        card_path,
        train_eval,
        holdout_eval,
        split.holdout_start,
    )


def _data_summary(frame: pa.Table, split: Split, training: Training) -> Mapping[str, object]:
    times = frame.column("event_timestamp")
    return {
        "label_source": training.label_source,
        "label": training.label,
        "events": frame.num_rows,
        "first_event": min(times.to_pylist()).isoformat(),
        "last_event": max(times.to_pylist()).isoformat(),
        "train_events": len(split.train),
        "holdout_events": len(split.holdout),
        "holdout_start": split.holdout_start.isoformat(),
    }


def _registry_metrics(train: Evaluation, holdout: Evaluation) -> dict[str, float]:
    return {
        "train_auc": round(train.auc, 6),
        "holdout_auc": round(holdout.auc, 6),
        "holdout_ks": round(holdout.ks, 6),
        "holdout_brier": round(holdout.brier, 6),
        "holdout_base_rate": round(holdout.base_rate, 6),
    }
