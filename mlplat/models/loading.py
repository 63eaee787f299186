"""Loading the versions a ``Model`` spec serves, keeping any that fail not ready."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mlplat.catalog import Catalog
from mlplat.errors import MlplatError
from mlplat.models.artifacts import ArtifactError, ArtifactStore, fetch_verified
from mlplat.models.scoring import ScoringModel, load_model
from mlplat.spec.kinds import ApprovalState

log = logging.getLogger("mlplat.models")


@dataclass(frozen=True)
class VersionState:
    """One version of one model: loaded and ready, or the reason it is not."""

    model: str
    version: str
    sha256: str
    approved: bool
    scorer: ScoringModel | None
    problem: str | None

    @property
    def ready(self) -> bool:
        return self.scorer is not None


def serving_versions(catalog: Catalog, model: str) -> tuple[str, ...]:
    """The versions a model's rollout uses: primary, then canary and shadow when set."""
    rollout = catalog.model(model).spec.rollout
    names = [rollout.primary]
    for extra in (rollout.canary, rollout.shadow):
        if extra is not None and extra.version not in names:
            names.append(extra.version)
    return tuple(names)


def load_version(catalog: Catalog, store: ArtifactStore, model: str, version: str) -> VersionState:
    """Fetch, verify and parse one version; any failure is logged and kept as not ready."""
    spec = catalog.model(model).spec
    entry = catalog.model_version(model, version)
    approved = entry.approval.state is ApprovalState.APPROVED
    try:
        scorer = load_model(spec.framework, entry.artifact.uri, fetch_verified(store, entry.artifact))
        check_inputs(model, version, scorer, [i.name for i in catalog.model_inputs(model)])
    except MlplatError as error:
        log.error("model %s version %s is not ready: %s", model, version, error)
        return VersionState(model, version, entry.artifact.sha256, approved, None, str(error))
    log.info("model %s version %s loaded (%s, sha256 %s)", model, version, spec.framework.value, entry.artifact.sha256)
    return VersionState(model, version, entry.artifact.sha256, approved, scorer, None)


def check_inputs(model: str, version: str, scorer: ScoringModel, names: list[str]) -> None:
    """The artifact takes the spec's inputs: as many, and in order when it stores column names."""
    if scorer.n_features not in (0, len(names)):
        raise ArtifactError(
            f"model {model} version {version} takes {scorer.n_features} features, "
            f"but its spec lists {len(names)}; retrain it on the spec's features"
        )
    if scorer.feature_names is None:
        return
    for index, (stored, wanted) in enumerate(zip(scorer.feature_names, names, strict=True)):
        if stored != wanted:
            raise ArtifactError(
                f"model {model} version {version} was trained with column {index} named {stored!r}, "
                f"but spec.features[{index}] is {wanted!r}; the spec's feature order must match the training columns"
            )
