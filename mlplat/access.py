"""Who may do what, as the specs grant it: the services' authorization decisions.

A ``Caller`` object names a workload by its Kubernetes service account; models, feature
views and push sources grant actions to callers by name:

======== ============================================== ===============================
action   granted by                                     lets the caller
======== ============================================== ===============================
decide   Model ``spec.serving.callers``                 ``POST /v1/decisions/<model>``
infer    Model ``spec.serving.inferenceCallers``        ``/v2/models/<model>/...``
read     FeatureView ``spec.readers``                   read the view's features
push     push Source ``spec.writers``                   push rows to the source's views
======== ============================================== ===============================

:class:`AccessPolicy` answers, from the catalog alone, which caller a verified identity
is and which grants it lacks for a request. It is pure: the services verify tokens and
call it per request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from mlplat.catalog import Catalog
from mlplat.spec.kinds import Caller, SourceType

#: Label value for requests of a verified identity that no ``Caller`` names; metric
#: labels stay bounded by the catalog's callers plus these.
UNKNOWN_CALLER = "unknown"
#: The caller of every request when authentication is turned off.
ANONYMOUS_CALLER = "anonymous"
#: Names a ``Caller`` may not take, so a label always means what it says.
RESERVED_CALLER_NAMES = frozenset({UNKNOWN_CALLER, ANONYMOUS_CALLER})


class Action(StrEnum):
    """What a request does to a model, a view or a push source."""

    DECIDE = "decide"
    INFER = "infer"
    READ = "read"
    PUSH = "push"


#: How each action reads in a refusal, and the spec field that grants it.
GRANT_FIELDS: Mapping[Action, tuple[str, str]] = MappingProxyType(
    {
        Action.DECIDE: ("take decisions with model", "spec.serving.callers"),
        Action.INFER: ("run inference on model", "spec.serving.inferenceCallers"),
        Action.READ: ("read feature view", "spec.readers"),
        Action.PUSH: ("push to source", "spec.writers"),
    }
)

#: How a refusal reads when the caller holds the action's grant on nothing at all.
_ANY_GRANT: Mapping[Action, tuple[str, str]] = MappingProxyType(
    {
        Action.DECIDE: ("take decisions with any model", "model"),
        Action.INFER: ("run inference on any model", "model"),
        Action.READ: ("read any feature view", "feature view"),
        Action.PUSH: ("push to any source", "push source"),
    }
)


@dataclass(frozen=True)
class Principal:
    """A verified Kubernetes service account: ``<namespace>/<name>``."""

    namespace: str
    service_account: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.service_account}"


@dataclass(frozen=True)
class CallerIdentity:
    """Who a request comes from: the catalog's name for it (or ``unknown``) and its principal."""

    name: str
    principal: Principal | None

    def as_record(self) -> dict[str, str | None]:
        """The caller as decision records keep it."""
        return {"name": self.name, "principal": None if self.principal is None else str(self.principal)}


ANONYMOUS = CallerIdentity(ANONYMOUS_CALLER, None)


def principal_of(caller: Caller) -> Principal:
    """The service account whose tokens identify ``caller``."""
    account = caller.spec.service_account
    return Principal(account.namespace, account.name)


def _grants(catalog: Catalog) -> dict[Action, dict[str, frozenset[str]]]:
    models = catalog.models.values()
    return {
        Action.DECIDE: {m.metadata.name: frozenset(m.spec.serving.callers) for m in models},
        Action.INFER: {m.metadata.name: frozenset(m.spec.serving.inference_callers) for m in models},
        Action.READ: {v.metadata.name: frozenset(v.spec.readers) for v in catalog.feature_views.values()},
        Action.PUSH: {s.metadata.name: frozenset(s.spec.writers) for s in catalog.sources.values()},
    }


class AccessPolicy:
    """The catalog's callers and grants, indexed for per-request checks."""

    def __init__(self, catalog: Catalog) -> None:
        self._by_principal = {principal_of(c): name for name, c in catalog.callers.items()}
        self._grants = _grants(catalog)
        self._batch_sources = frozenset(n for n, s in catalog.sources.items() if s.spec.type is SourceType.BATCH)

    @property
    def caller_names(self) -> tuple[str, ...]:
        """Every caller the catalog names, sorted."""
        return tuple(sorted(self._by_principal.values()))

    def identify(self, principal: Principal) -> CallerIdentity:
        """The caller ``principal`` is, or ``unknown`` when no ``Caller`` names its service account."""
        return CallerIdentity(self._by_principal.get(principal, UNKNOWN_CALLER), principal)

    def missing(self, caller: CallerIdentity, action: Action, resources: Iterable[str]) -> list[str]:
        """The ``resources`` (sorted) on which ``caller`` lacks the grant for ``action``."""
        granted = self._grants[action]
        return sorted({r for r in resources if caller.name not in granted.get(r, frozenset())})

    def grants_any(self, caller: CallerIdentity, action: Action) -> bool:
        """Whether ``caller`` may ``action`` at least one resource: a request of it is worth reading."""
        return any(caller.name in callers for callers in self._grants[action].values())

    def denial_of_all(self, caller: CallerIdentity, action: Action) -> str:
        """Why a caller holding no grant for ``action`` on anything is refused before its request is read."""
        what, noun = _ANY_GRANT[action]
        where = f"{GRANT_FIELDS[action][1]} of each {noun} it needs"
        if caller.name == UNKNOWN_CALLER:
            return (
                f"service account {caller.principal} is not a Caller in the specs, so it may not {what}; "
                f"define a Caller for it and add that caller to {where}"
            )
        return f"caller {caller.name!r} ({caller.principal}) may not {what}; add it to {where}"

    def denial(self, caller: CallerIdentity, action: Action, missing: Iterable[str]) -> str:
        """Why a request is refused, naming each missing grant and where it is written."""
        verb, field = GRANT_FIELDS[action]
        names = sorted(missing)
        batch = [n for n in names if action is Action.PUSH and n in self._batch_sources]
        if batch:
            listed = ", ".join(repr(n) for n in batch)
            what = "are batch sources" if len(batch) > 1 else "is a batch source"
            return f"{listed} {what}, written by pipelines: nobody may push to it; push to a push source"
        listed = ", ".join(repr(n) for n in names)
        plural = "s" if len(names) > 1 else ""
        where = f"{field} of {listed}"
        if caller.name == UNKNOWN_CALLER:
            return (
                f"service account {caller.principal} is not a Caller in the specs, so it may not {verb}{plural} "
                f"{listed}; define a Caller for it and add that caller to {where}"
            )
        return f"caller {caller.name!r} ({caller.principal}) may not {verb}{plural} {listed}; add it to {where}"
