"""The catalog: every spec object of a run, resolved, cross-checked and frozen.

It is what every consumer reads (the Pulumi program, the services, the offline jobs);
none of them reads YAML. Services receive it as a JSON snapshot
(:meth:`Catalog.to_snapshot` / :meth:`Catalog.from_snapshot`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar

from mlplat.diagnostics import Diagnostic, Severity, did_you_mean, has_errors, one_of
from mlplat.errors import NotFoundError, SpecError
from mlplat.spec.kinds import (
    API_VERSION,
    REQUEST_VIEW,
    Caller,
    Entity,
    Feature,
    FeatureService,
    FeatureView,
    Model,
    ModelVersion,
    Source,
    SpecObject,
)
from mlplat.spec.types import DType, JoinKeyType

SNAPSHOT_FORMAT = "mlplat.catalog/v1"
T = TypeVar("T")


@dataclass(frozen=True)
class JoinKey:
    """How one entity keys a view: the entity, the source column and the request key."""

    entity: str
    column: str
    request_key: str
    type: JoinKeyType


@dataclass(frozen=True)
class ModelInput:
    """One model input in order: a stored feature or a request value."""

    ref: str
    view: str | None
    name: str
    dtype: DType
    default: object | None
    reason: str

    @property
    def from_request(self) -> bool:
        return self.view is None


class Catalog:
    """Frozen, cross-referenced spec objects, looked up by name."""

    def __init__(self, objects: Sequence[SpecObject], warnings: Sequence[Diagnostic] = ()) -> None:
        self.entities: Mapping[str, Entity] = _by_name(objects, Entity)
        self.sources: Mapping[str, Source] = _by_name(objects, Source)
        self.feature_views: Mapping[str, FeatureView] = _by_name(objects, FeatureView)
        self.feature_services: Mapping[str, FeatureService] = _by_name(objects, FeatureService)
        self.models: Mapping[str, Model] = _by_name(objects, Model)
        self.callers: Mapping[str, Caller] = _by_name(objects, Caller)
        self.warnings: tuple[Diagnostic, ...] = tuple(warnings)

    # --- lookups ------------------------------------------------------------------------

    def feature_view(self, name: str) -> FeatureView:
        """The view called ``name``; :class:`NotFoundError` lists the views that exist."""
        return _lookup(self.feature_views, "feature view", name)

    def model(self, name: str) -> Model:
        """The model called ``name``; :class:`NotFoundError` lists the models that exist."""
        return _lookup(self.models, "model", name)

    def feature(self, ref: str) -> tuple[FeatureView, Feature]:
        """Resolve ``view:feature``; :class:`NotFoundError` says which part is wrong."""
        view_name, _, feature_name = ref.partition(":")
        view = self.feature_view(view_name)
        for feature in view.spec.features:
            if feature.name == feature_name:
                return view, feature
        names = [f.name for f in view.spec.features]
        raise NotFoundError(
            f"feature {ref!r} does not exist; {view_name} has {one_of(names)}{did_you_mean(feature_name, names)}"
        )

    def join_keys(self, view: str) -> tuple[JoinKey, ...]:
        """The entity keys of ``view``, in declaration order."""
        keys = []
        for ref in self.feature_view(view).spec.entities:
            entity = self.entities[ref.name]
            keys.append(JoinKey(ref.name, ref.column or entity.spec.join_key, entity.spec.join_key, entity.spec.type))
        return tuple(keys)

    def model_inputs(self, model: str) -> tuple[ModelInput, ...]:
        """The inputs of ``model`` in scoring order, with dtypes, defaults and reason phrases."""
        spec = self.model(model).spec
        requests = {value.name: value for value in spec.request_values}
        inputs = []
        for ref in spec.features:
            view_name, _, name = ref.partition(":")
            phrase = spec.decision.reason_phrases.get(ref)
            if view_name == REQUEST_VIEW:
                value = requests[name]
                inputs.append(ModelInput(ref, None, name, value.dtype, None, phrase or value.description or name))
                continue
            _, feature = self.feature(ref)
            reason = phrase or feature.reason or feature.description or name
            inputs.append(ModelInput(ref, view_name, name, feature.dtype, feature.default, reason))
        return tuple(inputs)

    def model_version(self, model: str, version: str) -> ModelVersion:
        """A version of ``model``; :class:`NotFoundError` lists the versions that exist."""
        versions = {v.name: v for v in self.model(model).spec.versions}
        if version not in versions:
            names = list(versions)
            raise NotFoundError(
                f"model {model!r} has no version {version!r}; defined: {one_of(names)}{did_you_mean(version, names)}"
            )
        return versions[version]

    def subset(
        self, *, views: Iterable[str] = (), models: Iterable[str] = (), with_feature_services: bool = False
    ) -> Catalog:
        """The smallest catalog holding ``views`` and ``models`` and everything they refer to.

        A service or job gets only its slice, so adding a model or a view never changes
        what the others read (nor rolls their pods).
        """
        view_names = set(views)
        sources: set[str] = set()
        objects: list[SpecObject] = []
        for name in models:
            model = self.model(name)
            objects.append(model)
            view_names |= {ref.partition(":")[0] for ref in model.spec.features} - {REQUEST_VIEW}
            if model.spec.training is not None:
                sources.add(model.spec.training.label_source)
        services = list(self.feature_services.values()) if with_feature_services else []
        for service in services:
            view_names |= {ref.partition(":")[0] for ref in service.spec.features}
        entities: set[str] = set()
        for name in sorted(view_names):
            view = self.feature_view(name)
            objects.append(view)
            entities |= {ref.name for ref in view.spec.entities}
            sources.add(view.spec.source)
        for name in list(sources):
            batch = self.sources[name].spec.batch_source
            if batch is not None:
                sources.add(batch)
        objects += [self.entities[name] for name in sorted(entities)]
        objects += [self.sources[name] for name in sorted(sources)]
        objects += [self.callers[name] for name in sorted(_granted(objects)) if name in self.callers]
        return Catalog([*objects, *services])

    # --- snapshot -----------------------------------------------------------------------

    def objects(self) -> list[SpecObject]:
        """Every object, in a stable order (kind, then name)."""
        groups: list[Mapping[str, Any]] = [
            self.entities,
            self.sources,
            self.feature_views,
            self.feature_services,
            self.models,
            self.callers,
        ]
        return [group[name] for group in groups for name in sorted(group)]

    def to_snapshot(self) -> dict[str, Any]:
        """The JSON-ready snapshot services start from (a ConfigMap on Kubernetes)."""
        documents = [obj.model_dump(mode="json", by_alias=True, exclude_none=True) for obj in self.objects()]
        return {
            "format": SNAPSHOT_FORMAT,
            "apiVersion": API_VERSION,
            "digest": _digest(documents),
            "documents": documents,
        }

    @property
    def digest(self) -> str:
        """sha256 of the catalog's content; equal catalogs have equal digests."""
        return str(self.to_snapshot()["digest"])

    @classmethod
    def from_snapshot(cls, snapshot: Mapping[str, Any]) -> Catalog:
        """Rebuild a catalog from :meth:`to_snapshot` output, checking it as the loader does."""
        from mlplat.loader import catalog_from_values  # noqa: PLC0415 - the loader builds catalogs

        if snapshot.get("format") != SNAPSHOT_FORMAT:
            raise SpecError(
                f"not a catalog snapshot: format is {snapshot.get('format')!r}, expected {SNAPSHOT_FORMAT!r}"
            )
        return catalog_from_values(list(snapshot.get("documents", [])), "<catalog snapshot>")


def _granted(objects: Iterable[SpecObject]) -> set[str]:
    """Names of the callers that ``objects`` grant anything to."""
    names: set[str] = set()
    for obj in objects:
        if isinstance(obj, Model):
            names |= {*obj.spec.serving.callers, *obj.spec.serving.inference_callers}
        elif isinstance(obj, FeatureView):
            names |= set(obj.spec.readers)
        elif isinstance(obj, Source):
            names |= set(obj.spec.writers)
    return names


def _digest(documents: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(documents, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _by_name(objects: Sequence[SpecObject], kind: type[T]) -> Mapping[str, T]:
    found = {obj.metadata.name: obj for obj in objects if isinstance(obj, kind)}
    return MappingProxyType(dict(sorted(found.items())))


def _lookup(items: Mapping[str, T], what: str, name: str) -> T:
    try:
        return items[name]
    except KeyError:
        names = list(items)
        raise NotFoundError(
            f"{what} {name!r} does not exist; defined: {one_of(names)}{did_you_mean(name, names)}"
        ) from None


def build_catalog(objects: Sequence[SpecObject], diagnostics: Sequence[Diagnostic]) -> Catalog:
    """The catalog of ``objects``, or :class:`SpecError` carrying every diagnostic when any is an error."""
    if has_errors(diagnostics):
        raise SpecValidationError(diagnostics)
    return Catalog(objects, [d for d in diagnostics if d.severity is Severity.WARNING])


class SpecValidationError(SpecError):
    """The specs have errors; ``diagnostics`` holds all of them, warnings included."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = tuple(diagnostics)
        errors = [d for d in diagnostics if d.severity is Severity.ERROR]
        super().__init__(f"{len(errors)} spec error(s):\n" + "\n".join(str(d) for d in errors))
