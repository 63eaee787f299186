"""``mlplat train``: a Model spec in, a pinned artifact, its metrics and a model card out.

The training set is built point in time from the spec's label source, the most recent
``training.holdout`` of events is kept out for evaluation, training events whose label
window (``training.labelWindow``) runs past the holdout start are left out, and the
model is fitted deterministically (one thread, the spec's seed) so the same data and
seed give a byte-identical artifact. Missing values become what the model server scores
for them (:func:`mlplat.models.policy.missing_number`), as float32, as served. Artifacts
are written only in formats that cannot run code: XGBoost UBJ and LightGBM text. The
model card records the version's lineage; :func:`verify_model` rebuilds a version from it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mlplat.catalog import Catalog, ModelInput
from mlplat.errors import UsageError
from mlplat.models.policy import missing_number
from mlplat.monitoring.profile import PROFILE_NAME, profile_bytes
from mlplat.offline.engine import Engine
from mlplat.offline.sources import batch_source, resolve_uri
from mlplat.offline.training_set import build_training_set
from mlplat.registry import Registry
from mlplat.spec.kinds import Framework, MissingPolicy, Model, Training
from mlplat.spec.types import DType, format_duration
from mlplat.training.frameworks import Fitted, fit
from mlplat.training.lineage import code_revision, library_versions, training_catalog_digest, training_set_digest
from mlplat.training.metrics import Evaluation, evaluate
from mlplat.training.model_card import render_model_card
from mlplat.training.reference import ReferenceData, reference_profile

ARTIFACT_NAMES = {Framework.XGBOOST: "model.ubj", Framework.LIGHTGBM: "model.txt"}


@dataclass(frozen=True)
class Recipe:
    """What a version is trained from besides the data: the spec's ``training``, or a card's record of it."""

    features: tuple[str, ...]
    params: Mapping[str, bool | int | float | str]
    seed: int
    holdout: timedelta
    label_window: timedelta | None

    @classmethod
    def of(cls, model: Model) -> Recipe:
        training = _training(model)
        return cls(
            tuple(model.spec.features), dict(training.params), training.seed, training.holdout, training.label_window
        )

    def as_record(self) -> dict[str, object]:
        return {
            "features": list(self.features),
            "params": dict(self.params),
            "seed": self.seed,
            "holdout_seconds": self.holdout.total_seconds(),
            "label_window_seconds": None if self.label_window is None else self.label_window.total_seconds(),
        }


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
    recipe: Recipe | None = None
    """Left out: the spec's ``training`` (a card's recipe when verifying)."""


@dataclass(frozen=True)
class Split:
    """A time-based split: events whose outcome was known by ``holdout_start`` train, events after it evaluate."""

    holdout_start: datetime
    train: np.ndarray
    holdout: np.ndarray
    embargoed: int
    """Events before the holdout whose label window runs past its start: in neither set."""


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
    profile_path: Path
    train: Evaluation
    holdout: Evaluation
    holdout_start: datetime


def artifact_uri(model: Model, version: str) -> str:
    """The spec's URI for ``version``, or ``<model>/<version>/model.<ext>`` for a version not listed yet."""
    for listed in model.spec.versions:
        if listed.name == version:
            return listed.artifact.uri
    return f"{model.metadata.name}/{version}/{ARTIFACT_NAMES[model.spec.framework]}"


def time_split(timestamps: np.ndarray, holdout_micros: int, label_window_micros: int = 0) -> Split:
    """Events in the last ``holdout_micros`` of the data evaluate; earlier events train when their
    label window (``label_window_micros`` after the event) ends by the holdout start: an embargo,
    so no training label was decided by what happened in the holdout period."""
    cutoff = int(timestamps.max()) - holdout_micros
    holdout = timestamps > cutoff
    train = timestamps + label_window_micros <= cutoff
    start = pa.scalar(cutoff, pa.int64()).cast(pa.timestamp("us", tz="UTC")).as_py()
    return Split(start, np.flatnonzero(train), np.flatnonzero(holdout), int(np.count_nonzero(~train & ~holdout)))


def feature_matrix(table: pa.Table, inputs: Sequence[ModelInput], on_missing: MissingPolicy) -> np.ndarray:
    """The model inputs as float32 columns in spec order, as the model server scores them.

    A null (no row, a stale row, a null value) becomes :func:`missing_number`: the
    feature's default under ``useDefault``, else NaN.
    """
    columns = []
    for model_input in inputs:
        if not model_input.dtype.is_numeric:
            raise UsageError(
                f"model input {model_input.name!r} is {model_input.dtype}; mlplat train handles numeric and bool inputs only"
            )
        column = table.column(model_input.name)
        if model_input.dtype is DType.BOOL:
            column = column.cast(pa.int8())
        values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
        missing = column.is_null().to_numpy(zero_copy_only=False)
        filled = np.where(missing, missing_number(model_input, on_missing), values)
        columns.append(filled.astype(np.float32))
    return np.column_stack(columns) if columns else np.empty((table.num_rows, 0), dtype=np.float32)


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


@dataclass(frozen=True)
class _Fit:
    """One fitted version and what it was fitted on (shared by training and verification)."""

    frame: pa.Table
    features: np.ndarray
    split: Split
    fitted: Fitted
    train: Evaluation
    holdout: Evaluation


def _fit(catalog: Catalog, model: Model, recipe: Recipe, options: TrainOptions) -> _Fit:
    training = _training(model)
    if list(recipe.features) != list(model.spec.features):
        raise UsageError(
            f"model {model.metadata.name!r} was trained on {len(recipe.features)} features that differ from "
            "spec.features; a version's inputs are its spec's: train a new version"
        )
    inputs = catalog.model_inputs(model.metadata.name)
    labels = _labels(catalog, training, options.data_root)
    frame = build_training_set(catalog, labels, recipe.features, options.data_root, engine=options.engine)
    features = feature_matrix(frame, inputs, model.spec.decision.on_missing)
    target = frame.column(training.label).cast(pa.int64()).to_numpy()
    micros = frame.column("event_timestamp").cast(pa.int64()).to_numpy()
    window = 0 if recipe.label_window is None else int(recipe.label_window.total_seconds() * 1_000_000)
    split = time_split(micros, int(recipe.holdout.total_seconds() * 1_000_000), window)
    if len(split.train) == 0 or len(split.holdout) == 0:
        raise UsageError(
            f"holdout {recipe.holdout} and label window {recipe.label_window} leave {len(split.train)} training and "
            f"{len(split.holdout)} holdout events; shorten spec.training.holdout or add data"
        )
    names = [i.name for i in inputs]
    fitted = fit(
        model.spec.framework, features[split.train], target[split.train], names, dict(recipe.params), recipe.seed
    )
    train_eval = evaluate(target[split.train], fitted.predict(features[split.train]))
    holdout_eval = evaluate(target[split.holdout], fitted.predict(features[split.holdout]))
    return _Fit(frame, features, split, fitted, train_eval, holdout_eval)


def lineage(catalog: Catalog, model: Model, frame: pa.Table) -> dict[str, object]:
    """What ties a version to what made it: data, catalog, libraries, code (see :mod:`mlplat.training.lineage`)."""
    return {
        "training_set_sha256": training_set_digest(frame),
        "training_set_rows": frame.num_rows,
        "catalog_sha256": training_catalog_digest(catalog, model.metadata.name),
        "libraries": library_versions(model.spec.framework),
        "code_revision": code_revision(),
    }


def train_model(catalog: Catalog, name: str, options: TrainOptions, registry: Registry | None = None) -> TrainedModel:
    """Train ``name`` from its spec, write artifact, metrics and model card, and record the version."""
    model = catalog.model(name)
    version = options.version or model.spec.versions[-1].name
    recipe = options.recipe or Recipe.of(model)
    result = _fit(catalog, model, recipe, options)
    uri = artifact_uri(model, version)
    artifact = options.artifact_root / PurePosixPath(uri)
    _write_atomically(artifact, result.fitted.artifact)
    digest = hashlib.sha256(result.fitted.artifact).hexdigest()
    metrics = {
        "model": name,
        "version": version,
        "framework": model.spec.framework.value,
        "artifact": uri,
        "sha256": digest,
        **recipe.as_record(),
        "holdout_start": result.split.holdout_start.isoformat(),
        "embargoed_events": result.split.embargoed,
        "train": result.train.as_dict(),
        "holdout": result.holdout.as_dict(),
        "importance": result.fitted.importance,
        "lineage": lineage(catalog, model, result.frame),
    }
    metrics_path = artifact.with_name("metrics.json")
    _write_atomically(metrics_path, (json.dumps(metrics, indent=2, sort_keys=True) + "\n").encode())
    (artifact.with_name(artifact.name + ".sha256")).write_text(f"{digest}  {artifact.name}\n", encoding="utf-8")
    card_path = artifact.with_name("MODEL_CARD.md")
    training = _training(model)
    card = render_model_card(model, version, uri, digest, metrics, _data_summary(result.frame, result.split, training))
    _write_atomically(card_path, card.encode())
    identity = (name, version, digest)
    profile_path = artifact.with_name(PROFILE_NAME)
    reference = ReferenceData(result.frame, result.features, result.split.holdout_start)
    _write_atomically(
        profile_path, profile_bytes(reference_profile(catalog, identity, (uri, result.fitted.artifact), reference))
    )
    if registry is not None:
        registry.record_model_version(name, version, digest, uri, _registry_metrics(result.train, result.holdout))
    return TrainedModel(
        name,
        version,
        model.spec.framework,
        uri,
        artifact,
        digest,
        metrics_path,
        card_path,
        profile_path,
        result.train,
        result.holdout,
        result.split.holdout_start,
    )


@dataclass(frozen=True)
class Verification:
    """A version rebuilt from its card: whether the bytes came out the same, and what differs if not."""

    model: str
    version: str
    card_sha256: str
    rebuilt_sha256: str
    differences: tuple[str, ...]
    """What differs between the card's lineage and the rebuild's (data, catalog, libraries, code)."""

    @property
    def reproduced(self) -> bool:
        return self.card_sha256 == self.rebuilt_sha256


def read_card(options: TrainOptions, model: Model, version: str) -> dict[str, Any]:
    """The machine-readable card (``metrics.json``) of ``version``, checked to hold a recipe and lineage."""
    path = options.artifact_root / PurePosixPath(artifact_uri(model, version)).parent / "metrics.json"
    if not path.is_file():
        raise UsageError(f"{path} does not exist; verify a version trained with `mlplat train` into --out")
    card: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if "lineage" not in card or "holdout_seconds" not in card:
        raise UsageError(
            f"{path} records no lineage (version {version} was trained before cards recorded it), "
            "so it cannot be rebuilt; retrain it as a new version"
        )
    return card


def _recipe_of_card(card: Mapping[str, Any]) -> Recipe:
    window = card["label_window_seconds"]
    return Recipe(
        tuple(card["features"]),
        dict(card["params"]),
        int(card["seed"]),
        timedelta(seconds=card["holdout_seconds"]),
        None if window is None else timedelta(seconds=window),
    )


def _differences(recorded: Mapping[str, Any], rebuilt: Mapping[str, Any]) -> tuple[str, ...]:
    found = []
    for key, what in (
        ("training_set_sha256", "training set"),
        ("catalog_sha256", "catalog (the model's specs)"),
        ("code_revision", "code revision"),
    ):
        if recorded.get(key) != rebuilt.get(key):
            found.append(f"{what}: card {recorded.get(key)}, now {rebuilt.get(key)}")
    for library, version in sorted(dict(rebuilt["libraries"]).items()):
        was = dict(recorded.get("libraries", {})).get(library)
        if was != version:
            found.append(f"{library}: card {was}, now {version}")
    return tuple(found)


def verify_model(catalog: Catalog, name: str, options: TrainOptions) -> Verification:
    """Rebuild a version from its card's recipe (into a scratch directory) and compare the sha256.

    The card's sha256 is also checked against the spec's pin, so a card and a spec that
    disagree are reported rather than verified.
    """
    model = catalog.model(name)
    version = options.version or model.spec.versions[-1].name
    card = read_card(options, model, version)
    pinned = next((v.artifact.sha256 for v in model.spec.versions if v.name == version), None)
    if pinned is not None and pinned != card["sha256"]:
        raise UsageError(
            f"the card of {name} {version} records sha256 {card['sha256']}, but the spec pins {pinned}; "
            "one of them is out of date"
        )
    result = _fit(catalog, model, _recipe_of_card(card), options)
    rebuilt = hashlib.sha256(result.fitted.artifact).hexdigest()
    differences = _differences(card["lineage"], lineage(catalog, model, result.frame))
    return Verification(name, version, str(card["sha256"]), rebuilt, differences)


def _data_summary(frame: pa.Table, split: Split, training: Training) -> Mapping[str, object]:
    times = frame.column("event_timestamp")
    return {
        "label_source": training.label_source,
        "label": training.label,
        "events": frame.num_rows,
        "first_event": min(times.to_pylist()).isoformat(),
        "last_event": max(times.to_pylist()).isoformat(),
        "train_events": len(split.train),
        "embargoed_events": split.embargoed,
        "label_window": "none" if training.label_window is None else format_duration(training.label_window),
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
