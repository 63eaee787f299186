"""The models one server serves: their loaded versions, inputs and online-store reads."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mlplat.catalog import Catalog, JoinKey, ModelInput
from mlplat.models import ArtifactStore, VersionState, load_version, serving_versions
from mlplat.online_store import FeatureValue, OnlineStore, ReadRequest
from mlplat.online_store.gate import StoreGate
from mlplat.spec.kinds import ModelSpec
from services.model_server.metrics import Metrics

log = logging.getLogger("mlplat.model_server")


@dataclass(frozen=True)
class ViewRead:
    """The features one model reads from one view, and the request keys that address it."""

    view: str
    keys: tuple[JoinKey, ...]
    features: tuple[str, ...]


@dataclass(frozen=True)
class ServedModel:
    """A model with every version its rollout uses, loaded or not."""

    name: str
    spec: ModelSpec
    inputs: tuple[ModelInput, ...]
    reads: tuple[ViewRead, ...]
    versions: Mapping[str, VersionState]

    @property
    def primary(self) -> VersionState:
        return self.versions[self.spec.rollout.primary]

    @property
    def canary(self) -> VersionState | None:
        """The canary, when configured, loaded and approved; otherwise decisions all go to the primary."""
        canary = self.spec.rollout.canary
        state = self.versions[canary.version] if canary else None
        return state if state is not None and state.ready and state.approved else None

    @property
    def shadow(self) -> VersionState | None:
        shadow = self.spec.rollout.shadow
        state = self.versions[shadow.version] if shadow else None
        return state if state is not None and state.ready else None

    @property
    def problem(self) -> str | None:
        """Why the model cannot take decisions, or ``None`` when it can."""
        primary = self.primary
        if primary.problem is not None:
            return primary.problem
        if not primary.approved:
            return f"version {primary.version} is not approved for decisions (spec.versions[].approval.state)"
        if not self.spec.decision.reason_codes:
            return "decision.reasonCodes is 0, but a credit decline must come with its reasons"
        if primary.scorer is not None and not primary.scorer.explains:
            return f"version {primary.version} cannot explain its scores, but decision.reasonCodes asks for reasons"
        return None

    @property
    def ready(self) -> bool:
        return self.problem is None


def view_reads(catalog: Catalog, inputs: Sequence[ModelInput]) -> tuple[ViewRead, ...]:
    """One read per view the model uses, in first-use order (all sent in one round trip)."""
    features: dict[str, list[str]] = {}
    for model_input in inputs:
        if model_input.view is not None:
            features.setdefault(model_input.view, []).append(model_input.name)
    return tuple(ViewRead(view, catalog.join_keys(view), tuple(names)) for view, names in features.items())


def load_models(
    catalog: Catalog, names: Sequence[str], artifacts: ArtifactStore, metrics: Metrics
) -> dict[str, ServedModel]:
    """Load every serving version of each model; failures stay not ready, logged."""
    served = {}
    for name in names or list(catalog.models):
        spec = catalog.model(name).spec
        inputs = catalog.model_inputs(name)
        versions = {v: load_version(catalog, artifacts, name, v) for v in serving_versions(catalog, name)}
        for version, state in versions.items():
            metrics.ready.labels(name, version).set(1 if state.ready else 0)
        model = ServedModel(name, spec, inputs, view_reads(catalog, inputs), versions)
        if model.problem is not None:
            log.error("model %s is not ready for decisions: %s", name, model.problem)
        served[name] = model
    return served


class GatedStore:
    """The online store behind a :class:`~mlplat.online_store.gate.StoreGate`, reporting its health."""

    def __init__(self, store: OnlineStore, retry_s: float, metrics: Metrics) -> None:
        self.store = store
        self._metrics = metrics
        self._gate = StoreGate(retry_s, on_change=self._changed)

    @property
    def up(self) -> bool:
        return self._gate.healthy

    def read(self, requests: Sequence[ReadRequest]) -> list[dict[str, FeatureValue]]:
        return self._gate.call(lambda: self.store.read(requests))

    def _changed(self, healthy: bool) -> None:
        if healthy:
            log.warning("online store answers again")
        else:
            log.error("online store failed; answering 503 for %.1f s before trying again", self._gate.retry_seconds)
        self._metrics.store_up.set(1 if healthy else 0)
