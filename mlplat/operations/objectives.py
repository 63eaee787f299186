"""The service level objectives the catalog implies: per model, per online view, per scheduled job.

Each :class:`Slo` names what is counted as bad (its SLI), the objective, and the labels
that identify its subject (``model`` or ``view``). Defaults live in the spec schema
(:mod:`mlplat.spec.kinds`), so ``mlplat schema`` documents them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from mlplat.catalog import Catalog
from mlplat.spec.kinds import FeatureViewSpec
from mlplat.spec.types import format_duration


class SloKind(StrEnum):
    """What an SLO measures; each kind has its own alerts and runbooks."""

    MODEL_AVAILABILITY = "model_availability"
    MODEL_LATENCY = "model_latency"
    VIEW_FRESHNESS = "view_freshness"
    MATERIALIZATION_SUCCESS = "materialization_success"


#: The subject label of each kind: which spec object an SLO (and its alerts) is about.
SUBJECT_LABEL = {
    SloKind.MODEL_AVAILABILITY: "model",
    SloKind.MODEL_LATENCY: "model",
    SloKind.VIEW_FRESHNESS: "view",
    SloKind.MATERIALIZATION_SUCCESS: "view",
}


@dataclass(frozen=True)
class Slo:
    """One objective about one spec object."""

    kind: SloKind
    subject: str
    """The model or feature view name."""
    objective: float
    """Share of good events (or good time), e.g. 0.999."""
    description: str
    latency_seconds: float | None = None
    """Model latency only: a decision slower than this is bad."""
    max_age: timedelta | None = None
    """View freshness only: a newest stored event older than this makes the view stale."""

    @property
    def label(self) -> str:
        return SUBJECT_LABEL[self.kind]

    @property
    def error_budget(self) -> float:
        """The share of bad events the objective allows (``1 - objective``), rounded like the spec writes it."""
        return round(1 - self.objective, 10)

    @property
    def name(self) -> str:
        """Stable identifier, e.g. ``model_availability:default_risk``."""
        return f"{self.kind.value}:{self.subject}"


def default_max_age(spec: FeatureViewSpec) -> timedelta:
    """Stale after two missed schedules (one late run is tolerated), never beyond the ttl; push-only views: the ttl."""
    if spec.materialization is None:
        return spec.ttl
    return min(2 * spec.materialization.every, spec.ttl)


def catalog_slos(catalog: Catalog) -> list[Slo]:
    """Every SLO of the catalog, models first, each group in name order."""
    slos: list[Slo] = []
    for name, model in sorted(catalog.models.items()):
        serving = model.spec.serving
        objectives = serving.objectives
        slos.append(
            Slo(
                SloKind.MODEL_AVAILABILITY,
                name,
                objectives.availability,
                f"{objectives.availability:.3%} of {name} decisions are not answered 5xx",
            )
        )
        slos.append(
            Slo(
                SloKind.MODEL_LATENCY,
                name,
                objectives.latency,
                f"{objectives.latency:.2%} of {name} decisions answer within {serving.latency_slo_ms} ms",
                latency_seconds=serving.latency_slo_ms / 1000,
            )
        )
    for name, view in sorted(catalog.feature_views.items()):
        spec = view.spec
        if not spec.online:
            continue
        goals = spec.objectives
        max_age = goals.max_age or default_max_age(spec)
        slos.append(
            Slo(
                SloKind.VIEW_FRESHNESS,
                name,
                goals.freshness,
                f"{name}: newest stored event younger than {format_duration(max_age)} {goals.freshness:.2%} of the time",
                max_age=max_age,
            )
        )
        if spec.materialization is not None:
            slos.append(
                Slo(
                    SloKind.MATERIALIZATION_SUCCESS,
                    name,
                    goals.materialization_success,
                    f"{goals.materialization_success:.2%} of {name} materialization runs succeed",
                )
            )
    return slos
