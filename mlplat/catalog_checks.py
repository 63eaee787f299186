"""Checks that need more than one document: names, references, types that must agree.

Each check takes the :class:`Index` of valid documents and yields located
diagnostics. A reference to an object whose own document is invalid is not reported
again: that document's errors already say what is wrong.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from mlplat.access import RESERVED_CALLER_NAMES
from mlplat.diagnostics import Diagnostic, Location, Path, Severity, did_you_mean, one_of
from mlplat.document_validation import UNKNOWN_KIND, ValidDocument
from mlplat.spec.kinds import (
    REQUEST_VIEW,
    ApprovalState,
    Caller,
    Entity,
    FeatureService,
    FeatureView,
    Framework,
    Model,
    Source,
    SourceType,
)
from mlplat.spec.types import format_duration


@dataclass
class Index:
    """Valid documents by kind and name, and the names of invalid ones."""

    by_kind: dict[str, dict[str, ValidDocument]] = field(default_factory=lambda: defaultdict(dict))
    invalid_names: set[tuple[str, str]] = field(default_factory=set)

    def names(self, kind: str) -> list[str]:
        return list(self.by_kind[kind])

    def known(self, kind: str, name: str) -> bool:
        """Whether ``name`` is defined as ``kind``, validly or not (then its own errors say why)."""
        return (
            name in self.by_kind[kind]
            or (kind, name) in self.invalid_names
            or (UNKNOWN_KIND, name) in self.invalid_names
        )


def _error(
    doc: ValidDocument, path: Path, message: str, severity: Severity = Severity.ERROR, *, on_key: bool = False
) -> Diagnostic:
    """A diagnostic at the value of ``path`` (or at its key, for a key that is itself wrong)."""
    location = doc.source.location(path) if on_key else doc.source.value_location(path)
    return Diagnostic(location, path, message, severity)


def _where(doc: ValidDocument, location: Location) -> str:
    """``line 12`` within the same file, the whole location in another."""
    return f"line {location.line}" if location.file == doc.source.file else str(location)


def _unknown(doc: ValidDocument, path: Path, kind: str, name: str, index: Index) -> Iterator[Diagnostic]:
    if not index.known(kind, name):
        choices = index.names(kind)
        yield _error(
            doc,
            path,
            f"{kind} {name!r} does not exist; defined: {one_of(choices)}{did_you_mean(name, choices)}",
        )


def check_duplicate_names(documents: Sequence[ValidDocument], index: Index) -> Iterator[Diagnostic]:
    """Names are unique per kind; the second definition is the error."""
    first: dict[tuple[str, str], ValidDocument] = {}
    for doc in documents:
        key = (doc.kind, doc.name)
        if key in first:
            where = _where(doc, first[key].source.value_location(("metadata", "name")))
            yield _error(
                doc, ("metadata", "name"), f"{doc.kind} {doc.name!r} is already defined at {where}; rename one of them"
            )
        else:
            first[key] = doc


def _views(index: Index) -> Iterator[tuple[ValidDocument, FeatureView]]:
    for doc in index.by_kind["FeatureView"].values():
        assert isinstance(doc.obj, FeatureView)
        yield doc, doc.obj


def _models(index: Index) -> Iterator[tuple[ValidDocument, Model]]:
    for doc in index.by_kind["Model"].values():
        assert isinstance(doc.obj, Model)
        yield doc, doc.obj


def check_sources(documents: Sequence[ValidDocument], index: Index) -> Iterator[Diagnostic]:
    """Batch sources have a path and timestamp; push sources name a batch source."""
    for doc in index.by_kind["Source"].values():
        assert isinstance(doc.obj, Source)
        spec = doc.obj.spec
        if spec.type is SourceType.BATCH:
            for needed, what in (
                ("path", "the parquet file or directory of its rows"),
                ("timestampField", "the column of each row's event time"),
            ):
                if getattr(spec, "path" if needed == "path" else "timestamp_field") is None:
                    yield _error(
                        doc,
                        ("spec",),
                        f"a batch source needs {needed!r}, {what} (or set 'type: push' for a push source)",
                        on_key=True,
                    )
            if spec.batch_source is not None:
                yield _error(
                    doc, ("spec", "batchSource"), "only push sources take 'batchSource'; remove it or set 'type: push'"
                )
            continue
        for extra, attr in (
            ("path", "path"),
            ("timestampField", "timestamp_field"),
            ("createdTimestampField", "created_timestamp_field"),
        ):
            if getattr(spec, attr) is not None:
                yield _error(
                    doc, ("spec", extra), f"a push source takes {extra!r} from its batchSource; remove it here"
                )
        if spec.batch_source is None:
            yield _error(
                doc,
                ("spec",),
                "a push source needs 'batchSource', the batch source keeping its history",
                on_key=True,
            )
            continue
        yield from _unknown(doc, ("spec", "batchSource"), "Source", spec.batch_source, index)
        target = index.by_kind["Source"].get(spec.batch_source)
        if target is not None and isinstance(target.obj, Source) and target.obj.spec.type is SourceType.PUSH:
            yield _error(doc, ("spec", "batchSource"), f"{spec.batch_source!r} is a push source; name a batch source")


def _check_view_entities(doc: ValidDocument, view: FeatureView, index: Index) -> Iterator[Diagnostic]:
    seen: set[str] = set()
    for i, ref in enumerate(view.spec.entities):
        path: Path = ("spec", "entities", i)
        if ref.name in seen:
            yield _error(doc, path, f"entity {ref.name!r} is listed twice")
        seen.add(ref.name)
        yield from _unknown(doc, path, "Entity", ref.name, index)
        entity_doc = index.by_kind["Entity"].get(ref.name)
        if entity_doc is None or ref.type is None:
            continue
        assert isinstance(entity_doc.obj, Entity)
        declared = entity_doc.obj.spec.type
        if ref.type != declared:
            written = ("spec", "type") in entity_doc.source.positions
            where = _where(doc, entity_doc.source.value_location(("spec", "type") if written else ("metadata", "name")))
            how = f"declared at {where}" if written else f"the default; entity defined at {where}"
            yield _error(
                doc,
                (*path, "type"),
                f"entity {ref.name!r} has a {declared.value} join key ({how}), but this view says {ref.type.value}; "
                "cast the column in the source, or change the entity's type",
            )


def _check_view_features(doc: ValidDocument, view: FeatureView, index: Index) -> Iterator[Diagnostic]:
    seen: dict[str, int] = {}
    key_columns = {ref.column or _join_key(ref.name, index) for ref in view.spec.entities}
    for i, feature in enumerate(view.spec.features):
        path: Path = ("spec", "features", i, "name")
        if feature.name in seen:
            yield _error(
                doc,
                path,
                f"feature {feature.name!r} is already defined at spec.features[{seen[feature.name]}]; "
                "rename or remove one of them",
            )
        seen.setdefault(feature.name, i)
        if feature.name in key_columns:
            yield _error(doc, path, f"{feature.name!r} is a join key of this view; a feature cannot share its name")
        if feature.default is not None and not _fits(feature.default, feature.dtype.value):
            yield _error(
                doc,
                ("spec", "features", i, "default"),
                f"default {feature.default!r} does not fit dtype {feature.dtype.value}; "
                f"write {_DTYPE_VALUES[feature.dtype.value]}, or remove the default",
            )


def _join_key(entity: str, index: Index) -> str | None:
    doc = index.by_kind["Entity"].get(entity)
    return doc.obj.spec.join_key if doc is not None and isinstance(doc.obj, Entity) else None


_DTYPE_VALUES = {
    "bool": "true or false",
    "int32": f"a whole number from {-(2**31)} to {2**31 - 1}",
    "int64": f"a whole number from {-(2**63)} to {2**63 - 1}",
    "float32": "a number",
    "float64": "a number",
    "string": "quoted text",
    "bytes": "quoted text",
    "timestamp": "a quoted ISO 8601 time, e.g. '2024-01-31T00:00:00Z'",
}


def _fits(value: object, dtype: str) -> bool:
    if dtype == "bool":
        return isinstance(value, bool)
    if dtype in ("int32", "int64"):
        limit = 2**31 if dtype == "int32" else 2**63
        return isinstance(value, int) and not isinstance(value, bool) and -limit <= value < limit
    if dtype in ("float32", "float64"):
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, str)


def check_feature_views(documents: Sequence[ValidDocument], index: Index) -> Iterator[Diagnostic]:
    """Entities, source, feature names and schedule of each view."""
    for doc, view in _views(index):
        if view.metadata.name == REQUEST_VIEW:
            yield _error(
                doc, ("metadata", "name"), f"{REQUEST_VIEW!r} is reserved for request values; choose another name"
            )
        yield from _check_view_entities(doc, view, index)
        yield from _unknown(doc, ("spec", "source"), "Source", view.spec.source, index)
        yield from _check_view_features(doc, view, index)
        max_age = view.spec.objectives.max_age
        if max_age is not None and max_age > view.spec.ttl:
            limit, ttl = (format_duration(d) for d in (max_age, view.spec.ttl))
            yield _error(
                doc,
                ("spec", "objectives", "maxAge"),
                f"maxAge {limit} is longer than ttl {ttl}: values are served as OUTSIDE_MAX_AGE before the "
                f"view counts as stale; lower maxAge to at most {ttl}",
                Severity.WARNING,
            )
        schedule = view.spec.materialization
        if schedule is None:
            continue
        if not view.spec.online:
            yield _error(
                doc,
                ("spec", "materialization"),
                "the view is not online; remove 'materialization' or set 'online: true'",
            )
        elif view.spec.ttl < schedule.every:
            ttl, every = (format_duration(d) for d in (view.spec.ttl, schedule.every))
            yield _error(
                doc,
                ("spec", "ttl"),
                f"ttl {ttl} is shorter than materialization.every {every}: values go stale between runs; "
                f"raise ttl to at least {every} or materialize more often",
                Severity.WARNING,
            )


def _feature_index(index: Index) -> dict[str, dict[str, str]]:
    """view -> feature -> dtype."""
    return {
        name: {f.name: f.dtype.value for f in doc.obj.spec.features}
        for name, doc in index.by_kind["FeatureView"].items()
        if isinstance(doc.obj, FeatureView)
    }


def _check_ref(
    doc: ValidDocument,
    path: Path,
    ref: str,
    index: Index,
    features: dict[str, dict[str, str]],
    request_values: dict[str, str] | None,
) -> Iterator[Diagnostic]:
    view, _, feature = ref.partition(":")
    if view == REQUEST_VIEW and request_values is not None:
        if feature not in request_values:
            names = list(request_values)
            declared = (
                f"declared: {one_of(names)}{did_you_mean(feature, names)}"
                if names
                else "add it there with its name and dtype"
            )
            yield _error(doc, path, f"request value {feature!r} is not declared in spec.requestValues; {declared}")
        return
    if view not in features:
        if not index.known("FeatureView", view):
            choices = list(features)
            yield _error(
                doc,
                path,
                f"{ref!r}: FeatureView {view!r} does not exist; defined: {one_of(choices)}{did_you_mean(view, choices)}",
            )
        return
    if feature not in features[view]:
        names = list(features[view])
        yield _error(doc, path, f"{ref!r} does not exist; {view} has {one_of(names)}{did_you_mean(feature, names)}")


def check_feature_services(documents: Sequence[ValidDocument], index: Index) -> Iterator[Diagnostic]:
    """Every referenced feature exists."""
    features = _feature_index(index)
    for doc in index.by_kind["FeatureService"].values():
        assert isinstance(doc.obj, FeatureService)
        for i, ref in enumerate(doc.obj.spec.features):
            yield from _check_ref(doc, ("spec", "features", i), ref, index, features, None)


def _check_model_inputs(
    doc: ValidDocument, model: Model, index: Index, features: dict[str, dict[str, str]]
) -> Iterator[Diagnostic]:
    requests = {value.name: value.dtype.value for value in model.spec.request_values}
    seen: dict[str, int] = {}
    offline_views: set[str] = set()
    for i, ref in enumerate(model.spec.features):
        path: Path = ("spec", "features", i)
        if ref in seen:
            yield _error(doc, path, f"{ref!r} is already listed at spec.features[{seen[ref]}]; remove one of them")
        seen.setdefault(ref, i)
        problems = list(_check_ref(doc, path, ref, index, features, requests))
        yield from problems
        view, _, feature = ref.partition(":")
        # A reference into an invalid view has no dtype here; that view's own errors say why.
        dtype = requests.get(feature) if view == REQUEST_VIEW else features.get(view, {}).get(feature)
        if problems or dtype is None:
            continue
        # A request value's own dtype error (spec.requestValues) says it once for every use.
        if view != REQUEST_VIEW and dtype not in ("bool", "int32", "int64", "float32", "float64"):
            yield _error(
                doc,
                path,
                f"{ref!r} is a {dtype}; models take numeric and bool inputs only (encode it in a feature view)",
            )
        view_doc = index.by_kind["FeatureView"].get(view)
        if (
            view_doc is not None
            and isinstance(view_doc.obj, FeatureView)
            and not view_doc.obj.spec.online
            and view not in offline_views
        ):
            offline_views.add(view)
            where = _where(doc, view_doc.source.value_location(("spec", "online")))
            yield _error(
                doc,
                path,
                f"FeatureView {view!r} is not online (online: false at {where}), so the model server cannot "
                "read its features; set 'online: true' on it or drop its features from this model",
            )


def _check_decision(doc: ValidDocument, model: Model) -> Iterator[Diagnostic]:
    for phrase_ref in model.spec.decision.reason_phrases:
        if phrase_ref not in model.spec.features:
            yield _error(
                doc,
                ("spec", "decision", "reasonPhrases", phrase_ref),
                f"{phrase_ref!r} is not one of the model's features; phrases apply to spec.features only"
                f"{did_you_mean(phrase_ref, model.spec.features)}",
                on_key=True,
            )
    if model.spec.decision.reason_codes > len(model.spec.features):
        count = len(model.spec.features)
        yield _error(
            doc,
            ("spec", "decision", "reasonCodes"),
            f"{model.spec.decision.reason_codes} reason codes asked, but the model has {count} feature(s); "
            f"ask for at most {count}",
        )


def _check_reasons(doc: ValidDocument, model: Model) -> Iterator[Diagnostic]:
    """Every decline comes with its reasons, and only frameworks that explain scores can give them.

    A credit decline must tell the applicant why (adverse action notice), so a decision
    policy with no reason codes is refused; reason codes are SHAP contributions of the
    trees, which ONNX graphs do not give, so an ONNX model cannot take credit decisions.
    """
    decision = model.spec.decision
    path: Path = ("spec", "decision", "reasonCodes")
    if ("spec", "decision", "reasonCodes") not in doc.source.positions:
        path = ("spec", "framework") if model.spec.framework is Framework.ONNX else ("spec", "decision")
    if model.spec.framework is Framework.ONNX:
        asked = f"{decision.reason_codes} reason code(s) asked" if decision.reason_codes else "no reason codes asked"
        yield _error(
            doc,
            path,
            f"{asked}, but onnx models cannot give reasons (the graph returns scores, not per-feature contributions), "
            "and a credit decline must come with its reasons; train this model with xgboost or lightgbm",
        )
    elif decision.reason_codes == 0:
        yield _error(
            doc,
            path,
            "reasonCodes is 0, but a credit decline must come with its reasons; ask for at least 1 (the default is 4)",
        )


def _check_rollout(doc: ValidDocument, model: Model) -> Iterator[Diagnostic]:
    versions: dict[str, int] = {}
    for i, version in enumerate(model.spec.versions):
        if version.name in versions:
            yield _error(
                doc,
                ("spec", "versions", i, "name"),
                f"version {version.name!r} is already defined at spec.versions[{versions[version.name]}]",
            )
        versions.setdefault(version.name, i)
    rollout = model.spec.rollout
    roles: list[tuple[Path, str, bool]] = [(("spec", "rollout", "primary"), rollout.primary, True)]
    if rollout.canary is not None:
        roles.append((("spec", "rollout", "canary", "version"), rollout.canary.version, True))
    if rollout.shadow is not None:
        roles.append((("spec", "rollout", "shadow", "version"), rollout.shadow.version, False))
    used: set[str] = set()
    for path, name, decides in roles:
        if name not in versions:
            yield _error(
                doc,
                path,
                f"version {name!r} does not exist; spec.versions has {one_of(list(versions))}{did_you_mean(name, versions)}",
            )
            continue
        if name in used:
            yield _error(doc, path, f"version {name!r} already has a role in this rollout; use a different version")
        used.add(name)
        approval = model.spec.versions[versions[name]].approval.state
        if decides and approval is not ApprovalState.APPROVED:
            yield _error(
                doc,
                path,
                f"version {name!r} is {approval.value}; only approved versions take decisions (run it as shadow until it is approved)",
            )


def _check_monitoring(doc: ValidDocument, model: Model) -> Iterator[Diagnostic]:
    monitoring = model.spec.monitoring
    for key, thresholds in (
        ("psi", monitoring.psi),
        ("approvalRateShift", monitoring.approval_rate_shift),
        ("missingShareRise", monitoring.missing_share_rise),
        ("staleShare", monitoring.stale_share),
    ):
        if thresholds.act < thresholds.watch:
            yield _error(
                doc,
                ("spec", "monitoring", key, "act"),
                f"act {thresholds.act} is below watch {thresholds.watch}; act must be at least watch",
            )


def _check_replicas(doc: ValidDocument, model: Model) -> Iterator[Diagnostic]:
    """The autoscaler's bounds are ordered: the API server refuses a HorizontalPodAutoscaler whose
    ``maxReplicas`` is below ``minReplicas`` ("It cannot be less that minReplicas",
    https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/horizontal-pod-autoscaler-v2/),
    which would fail ``pulumi up`` of the workloads stack long after the spec was merged."""
    replicas = model.spec.serving.replicas
    if replicas.max < replicas.min:
        yield _error(
            doc,
            ("spec", "serving", "replicas", "max"),
            f"max {replicas.max} is below min {replicas.min}, which Kubernetes refuses for an autoscaler; "
            f"raise max to at least {replicas.min} or lower min",
        )


def _check_request_values(doc: ValidDocument, model: Model) -> Iterator[Diagnostic]:
    """Request values are numbers: the model server scores each one (bools as 0/1), used or not."""
    for i, value in enumerate(model.spec.request_values):
        if not value.dtype.is_numeric:
            yield _error(
                doc,
                ("spec", "requestValues", i, "dtype"),
                f"{value.name!r} is a {value.dtype.value}; a request value is scored as a number, so it must be "
                "bool, int32, int64, float32 or float64 (encode text as a number, or look it up in a feature view)",
            )


def check_models(documents: Sequence[ValidDocument], index: Index) -> Iterator[Diagnostic]:
    """Inputs exist, are online and numeric; rollout names approved versions; training source exists."""
    features = _feature_index(index)
    for doc, model in _models(index):
        yield from _check_model_inputs(doc, model, index, features)
        yield from _check_request_values(doc, model)
        yield from _check_decision(doc, model)
        yield from _check_reasons(doc, model)
        yield from _check_rollout(doc, model)
        yield from _check_monitoring(doc, model)
        yield from _check_replicas(doc, model)
        training = model.spec.training
        if training is not None:
            yield from _unknown(doc, ("spec", "training", "labelSource"), "Source", training.label_source, index)
            label_doc = index.by_kind["Source"].get(training.label_source)
            if (
                label_doc is not None
                and isinstance(label_doc.obj, Source)
                and label_doc.obj.spec.type is not SourceType.BATCH
            ):
                yield _error(
                    doc,
                    ("spec", "training", "labelSource"),
                    f"{training.label_source!r} is a push source; labels come from a batch source",
                )


def _check_grant(doc: ValidDocument, path: Path, names: Sequence[str], index: Index) -> Iterator[Diagnostic]:
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            yield _error(
                doc,
                (*path, i),
                f"caller {name!r} is already listed at {'.'.join(map(str, path))}[{seen[name]}]; remove one of them",
            )
        seen.setdefault(name, i)
        yield from _unknown(doc, (*path, i), "Caller", name, index)


def _grant_lists(doc: ValidDocument) -> Iterator[tuple[Path, Sequence[str]]]:
    obj = doc.obj
    if isinstance(obj, Model):
        yield ("spec", "serving", "callers"), obj.spec.serving.callers
        yield ("spec", "serving", "inferenceCallers"), obj.spec.serving.inference_callers
    elif isinstance(obj, FeatureView):
        yield ("spec", "readers"), obj.spec.readers
    elif isinstance(obj, Source):
        yield ("spec", "writers"), obj.spec.writers


def _check_grant_targets(doc: ValidDocument) -> Iterator[Diagnostic]:
    obj = doc.obj
    if isinstance(obj, Source) and obj.spec.writers and obj.spec.type is not SourceType.PUSH:
        yield _error(
            doc,
            ("spec", "writers"),
            "only push sources take 'writers' (batch sources are written by their pipelines); "
            "remove it or set 'type: push'",
        )
    if isinstance(obj, FeatureView) and obj.spec.readers and not obj.spec.online:
        yield _error(
            doc,
            ("spec", "readers"),
            "the view is not online, so the feature server serves nothing to read; remove 'readers' or set 'online: true'",
        )


def check_callers(documents: Sequence[ValidDocument], index: Index) -> Iterator[Diagnostic]:
    """Grants name defined callers once each; no two callers share a service account."""
    for kind in ("Model", "FeatureView", "Source"):
        for doc in index.by_kind[kind].values():
            for path, names in _grant_lists(doc):
                yield from _check_grant(doc, path, names, index)
            yield from _check_grant_targets(doc)
    accounts: dict[tuple[str, str], ValidDocument] = {}
    for doc in index.by_kind["Caller"].values():
        assert isinstance(doc.obj, Caller)
        if doc.name in RESERVED_CALLER_NAMES:
            yield _error(
                doc,
                ("metadata", "name"),
                f"{doc.name!r} is reserved: the services label requests by unnamed or unauthenticated "
                f"callers {one_of(sorted(RESERVED_CALLER_NAMES))}; choose another name",
            )
        account = doc.obj.spec.service_account
        key = (account.namespace, account.name)
        first = accounts.setdefault(key, doc)
        if first is not doc:
            where = _where(doc, first.source.value_location(("spec", "serviceAccount")))
            yield _error(
                doc,
                ("spec", "serviceAccount"),
                f"service account {account.namespace}/{account.name} already identifies caller {first.name!r} "
                f"({where}); one service account is one caller, so grant that caller instead",
            )


Check = Callable[[Sequence[ValidDocument], Index], Iterator[Diagnostic]]

CHECKS: tuple[Check, ...] = (
    check_duplicate_names,
    check_sources,
    check_feature_views,
    check_feature_services,
    check_models,
    check_callers,
)


def build_index(documents: Sequence[ValidDocument], invalid_names: set[tuple[str, str]]) -> Index:
    """The valid ``documents`` by kind and name (the first of a name wins), and the invalid names."""
    index = Index(invalid_names=invalid_names)
    for doc in documents:
        index.by_kind[doc.kind].setdefault(doc.name, doc)
    return index


def run_checks(documents: Sequence[ValidDocument], invalid_names: set[tuple[str, str]]) -> list[Diagnostic]:
    """Every cross-document diagnostic of ``documents``."""
    index = build_index(documents, invalid_names)
    return [diagnostic for check in CHECKS for diagnostic in check(documents, index)]
