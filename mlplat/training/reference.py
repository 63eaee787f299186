"""The reference profile of a trained version (:mod:`mlplat.monitoring.profile`), from its training set.

``mlplat train`` writes it beside the card; :func:`write_profile_only` writes it for a
version trained before profiles existed, from the same training set and the committed
artifact, without retraining (so a pinned sha256 never moves). Both score the reference
rows with the served scorer of the artifact's bytes, so both give the same file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlplat.catalog import Catalog
from mlplat.errors import UsageError
from mlplat.models.scoring import load_model
from mlplat.monitoring.profile import PROFILE_NAME, Profile, build_profile, profile_bytes
from mlplat.offline.training_set import build_training_set


@dataclass(frozen=True)
class ReferenceData:
    """A version's training set, its feature matrix as scored, and the holdout start it was split at."""

    frame: pa.Table
    features: np.ndarray
    holdout_start: datetime


def reference_profile(
    catalog: Catalog, identity: tuple[str, str, str], artifact: tuple[str, bytes], data: ReferenceData
) -> Profile:
    """The profile of the events before the holdout start, scored by the artifact as the model server scores."""
    name = identity[0]
    model = catalog.model(name)
    times = data.frame.column("event_timestamp")
    before = pc.less_equal(times, pa.scalar(data.holdout_start, times.type))
    rows = np.flatnonzero(np.asarray(before.to_numpy(zero_copy_only=False), dtype=bool))
    scores = load_model(model.spec.framework, *artifact).score(data.features[rows])
    inputs = catalog.model_inputs(name)
    return build_profile(identity, data.frame.take(rows), inputs, scores, data.holdout_start.isoformat())


def write_profile_only(catalog: Catalog, name: str, version: str, data_root: Path, artifact_root: Path) -> Path:
    """Write ``profile.json`` of a trained version from its card's holdout start and its pinned artifact."""
    from mlplat.training.trainer import _labels, _training, artifact_uri, feature_matrix  # noqa: PLC0415 - cycle

    model = catalog.model(name)
    entry = catalog.model_version(name, version)
    artifact_path = artifact_root / PurePosixPath(artifact_uri(model, version))
    card_path = artifact_path.with_name("metrics.json")
    if not artifact_path.is_file() or not card_path.is_file():
        raise UsageError(f"{artifact_path} or its metrics.json is missing; train {name} {version} first")
    artifact = artifact_path.read_bytes()
    digest = hashlib.sha256(artifact).hexdigest()
    if digest != entry.artifact.sha256:
        raise UsageError(f"{artifact_path} has sha256 {digest}, but the spec pins {entry.artifact.sha256}")
    card = json.loads(card_path.read_text(encoding="utf-8"))
    if list(card["features"]) != list(model.spec.features):
        raise UsageError(f"{card_path} was trained on other features than spec.features; profile it from its own spec")
    holdout_start = datetime.fromisoformat(card["holdout_start"])
    labels = _labels(catalog, _training(model), data_root)
    frame = build_training_set(catalog, labels, model.spec.features, data_root)
    features = feature_matrix(frame, catalog.model_inputs(name), model.spec.decision.on_missing)
    reference = ReferenceData(frame, features, holdout_start)
    profile = reference_profile(catalog, (name, version, digest), (entry.artifact.uri, artifact), reference)
    path = artifact_path.with_name(PROFILE_NAME)
    path.write_bytes(profile_bytes(profile))
    return path
