"""What a deploy depends on beyond the spec language, checked by ``mlplat validate``.

* Names: every AWS and Kubernetes name derived from a spec name fits its limit after the
  prefixes the program adds (:data:`mlplat.name_limits.NAME_RULES`, the table the program's
  own render-time name checks read).
* Catalog slices: each service starts from its slice of the catalog, mounted from a
  ConfigMap, and a ConfigMap holds at most 1 MiB. The slices are defined here and the
  program deploys exactly these (``infra/workloads``).
* SLO rules: every model's and online view's recording rules go into one Managed
  Prometheus rule groups namespace, whose definition holds at most 1 MB.
* Decision records: the model server logs each decision as one Kinesis record, at most
  1 MiB; the largest record a model's requests can make must fit
  (:mod:`mlplat.decision_record_size`).
* Tags: a Model's and a scheduled FeatureView's owner is tagged on its AWS resources, so it
  must be a tag value AWS accepts.
* Artifacts: a model version whose artifact is a local path must have that file, with
  the pinned sha256, under the artifact root.

Sizes and tag rules are :mod:`mlplat.object_limits`, the table the program's render-time
check (``infra/limits.py``) measures the rendered resources against.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from mlplat.catalog import Catalog
from mlplat.decision_record_size import decision_record_bound
from mlplat.diagnostics import Diagnostic
from mlplat.diagnostics import Path as FieldPath
from mlplat.document_validation import ValidDocument
from mlplat.name_limits import too_long
from mlplat.object_limits import (
    AMP_RULE_NAMESPACE,
    CATALOG_CONFIGMAP_KEY,
    CONFIGMAP_DATA,
    KINESIS_RECORD,
    MAX_RUNBOOK_BASE_LENGTH,
    configmap_data_bytes,
    tag_text,
    tag_value_problem,
    text_bytes,
)
from mlplat.operations.model_monitoring import catalog_monitored_models
from mlplat.operations.objectives import catalog_slos
from mlplat.operations.rules import AlertPolicy, RuleFile, catalog_rules
from mlplat.spec.kinds import FeatureView, Model

#: The most a ConfigMap holds (https://kubernetes.io/docs/concepts/configuration/configmap/#motivation).
CONFIGMAP_MAX_BYTES = CONFIGMAP_DATA.max_bytes
FEATURE_SERVER = "feature-server"


def feature_server_catalog(catalog: Catalog) -> Catalog:
    """The feature server's slice: every view and feature service, and what they refer to."""
    return catalog.subset(views=catalog.feature_views, with_feature_services=True)


def model_server_catalog(catalog: Catalog, model: str) -> Catalog:
    """A model server's slice: the model and what it refers to."""
    return catalog.subset(models=[model])


def snapshot_text(catalog: Catalog) -> str:
    """The snapshot exactly as the ConfigMap carries it."""
    return json.dumps(catalog.to_snapshot(), sort_keys=True, separators=(",", ":"))


def catalog_config_map_data(catalog: Catalog) -> dict[str, str]:
    """The ``data`` of the ConfigMap a service's catalog slice is mounted from."""
    return {CATALOG_CONFIGMAP_KEY: snapshot_text(catalog)}


def check_name_lengths(documents: Sequence[ValidDocument]) -> Iterator[Diagnostic]:
    """Each Model and scheduled FeatureView name fits every name derived from it."""
    for doc in documents:
        if isinstance(doc.obj, FeatureView) and doc.obj.spec.materialization is None:
            continue
        if not isinstance(doc.obj, Model | FeatureView):
            continue
        for derived, rendered, length in too_long(doc.kind, doc.name):
            suffix = " with Pulumi's random suffix" if derived.autonamed else ""
            excess = length - derived.limit
            yield Diagnostic(
                doc.source.value_location(("metadata", "name")),
                ("metadata", "name"),
                f"{doc.name!r} makes the {derived.what} {rendered!r} {length} characters long{suffix}, over the "
                f"limit of {derived.limit} ({derived.rule.doc}); shorten the name by {excess} character(s)",
            )


def _size(text: str) -> int:
    return len(text.encode())


def _largest_field(value: Any, path: FieldPath = ()) -> tuple[FieldPath, int]:
    if isinstance(value, dict):
        items: list[tuple[FieldPath, int]] = [_largest_field(v, (*path, k)) for k, v in value.items()]
    elif isinstance(value, list):
        items = [_largest_field(v, (*path, i)) for i, v in enumerate(value)]
    else:
        return path, _size(json.dumps(value, default=str))
    return max(items, key=lambda item: item[1], default=(path, 0))


def _mib(size: int) -> str:
    return f"{size / 1024 / 1024:.2f} MiB"


def _largest_object(catalog: Catalog) -> tuple[str, int]:
    sizes = [
        (f"{obj.kind}/{obj.metadata.name}", _size(json.dumps(obj.model_dump(mode="json", by_alias=True), default=str)))
        for obj in catalog.objects()
    ]
    return max(sizes, key=lambda item: item[1])


def check_slice_sizes(catalog: Catalog, valid: Sequence[ValidDocument]) -> list[Diagnostic]:
    """Each service's catalog slice fits the ConfigMap it is mounted from.

    One error per object that is the largest of oversized slices, naming every such slice.
    """
    slices = {"the feature server": feature_server_catalog(catalog)}
    slices |= {f"the model server of {name}": model_server_catalog(catalog, name) for name in catalog.models}
    oversized: dict[str, list[tuple[str, int]]] = {}
    for name, sliced in slices.items():
        size = configmap_data_bytes(catalog_config_map_data(sliced))
        if size > CONFIGMAP_MAX_BYTES:
            oversized.setdefault(_largest_object(sliced)[0], []).append((name, size))
    documents = {f"{doc.kind}/{doc.name}": doc for doc in valid}
    return [_oversize(documents[key], key, found) for key, found in oversized.items()]


def _oversize(doc: ValidDocument, key: str, slices: list[tuple[str, int]]) -> Diagnostic:
    path, field_size = _largest_field(doc.source.value)
    where = ", ".join(f"{name} ({_mib(size)})" for name, size in slices)
    object_size = _size(json.dumps(doc.obj.model_dump(mode="json", by_alias=True), default=str))
    if field_size > CONFIGMAP_MAX_BYTES // 10:
        fix = f"this field alone is {_mib(field_size)}: shorten it"
        at: FieldPath = path
    else:
        fix = f"it is {_mib(object_size)}: shorten its descriptions or split it"
        at = ("metadata", "name")
    return Diagnostic(
        doc.source.value_location(at),
        at,
        f"the catalog of {where} exceeds the {_mib(CONFIGMAP_MAX_BYTES)} a ConfigMap holds; "
        f"{key} is its largest object and {fix}",
    )


def check_artifacts(valid: Sequence[ValidDocument], artifact_root: Path) -> Iterator[Diagnostic]:
    """Every local artifact is under ``artifact_root`` with the sha256 its spec pins."""
    for doc in valid:
        if not isinstance(doc.obj, Model):
            continue
        for i, version in enumerate(doc.obj.spec.versions):
            uri, pinned = version.artifact.uri, version.artifact.sha256
            if uri.startswith("s3://"):
                continue
            base: FieldPath = ("spec", "versions", i, "artifact")
            path = artifact_root / uri
            if not path.is_file():
                yield Diagnostic(
                    doc.source.value_location((*base, "uri")),
                    (*base, "uri"),
                    f"{uri!r} is not under the artifact root {artifact_root} (looked for {path}); "
                    f"train it (`mlplat train {doc.name} --version {version.name}`) or fix the uri",
                )
                continue
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest != pinned:
                yield Diagnostic(
                    doc.source.value_location((*base, "sha256")),
                    (*base, "sha256"),
                    f"{path} has sha256 {digest}, not the pinned one; pin the file's digest "
                    "(`sha256sum`), or restore the file that was approved",
                )


def slo_rules(catalog: Catalog) -> RuleFile:
    """The rule file as validate measures it: with the longest runbook base a stack may set.

    The SLO groups come first (one per SLO, in ``catalog_slos`` order), then the alert
    group, then one monitoring group per model (:func:`catalog_rules`).
    """
    return catalog_rules(catalog, AlertPolicy(runbook_base="x" * MAX_RUNBOOK_BASE_LENGTH))


def check_rule_namespace_size(catalog: Catalog, valid: Sequence[ValidDocument]) -> list[Diagnostic]:
    """The alert rules of every model and online view fit the one rule groups namespace that holds them."""
    rules = slo_rules(catalog)
    problem = AMP_RULE_NAMESPACE.problem(text_bytes(rules.to_yaml()))
    if problem is None:
        return []
    slos = catalog_slos(catalog)
    owners = [f"{'Model' if slo.label == 'model' else 'FeatureView'}/{slo.subject}" for slo in slos]
    # After the SLO groups and the shared alert group: one monitoring group per model.
    owners += [f"Model/{model.name}" for model in catalog_monitored_models(catalog)]
    owned = [*rules.groups[: len(slos)], *rules.groups[len(slos) + 1 :]]
    group_sizes: dict[str, int] = {}
    for key, group in zip(owners, owned, strict=True):
        group_sizes[key] = group_sizes.get(key, 0) + text_bytes(RuleFile([group]).to_yaml())
    documents = {f"{doc.kind}/{doc.name}": doc for doc in valid}
    largest = max(group_sizes, key=lambda key: group_sizes[key])
    doc = documents[largest]
    models, views = (
        sum(k.startswith("Model/") for k in group_sizes),
        sum(k.startswith("FeatureView/") for k in group_sizes),
    )
    return [
        Diagnostic(
            doc.source.value_location(("metadata", "name")),
            ("metadata", "name"),
            f"the alert rules of {models} model(s) and {views} feature view(s) do not fit Managed Prometheus: "
            f"{problem}; {largest} has the most ({group_sizes[largest]:,} bytes). Every model's and online "
            "view's rules share one namespace: remove objects from this catalog, or split the namespace "
            "(infra/components/monitoring.py) before adding more",
        )
    ]


def check_owner_tags(valid: Sequence[ValidDocument]) -> Iterator[Diagnostic]:
    """The owner of each object whose AWS resources are tagged with it is a tag value AWS accepts."""
    for doc in valid:
        tagged = isinstance(doc.obj, Model) or (
            isinstance(doc.obj, FeatureView) and doc.obj.spec.materialization is not None
        )
        owner = doc.obj.metadata.owner
        problem = tag_value_problem(owner) if tagged and owner is not None else None
        if problem is not None:
            refused = sorted({c for c in str(owner) if not tag_text(c)})
            shown = f" ({' '.join(repr(c) for c in refused)} refused)" if refused else ""
            yield Diagnostic(
                doc.source.value_location(("metadata", "owner")),
                ("metadata", "owner"),
                f"{owner!r} is tagged on the {doc.kind}'s AWS resources as 'owner', and {problem}{shown}; "
                "write a team handle or an email address such as 'credit-risk@bnpl.example'",
            )


def check_decision_records(catalog: Catalog, valid: Sequence[ValidDocument]) -> Iterator[Diagnostic]:
    """The largest decision record each model's requests can make fits one Kinesis record."""
    documents = {doc.name: doc for doc in valid if isinstance(doc.obj, Model)}
    for name, model in catalog.models.items():
        bound = decision_record_bound(catalog, name)
        if KINESIS_RECORD.problem(bound) is None:
            continue
        at: FieldPath = ("spec", "features")
        fix = f"{len(model.spec.features)} inputs each add to every record: use fewer"
        yield Diagnostic(
            documents[name].source.value_location(at),
            at,
            f"a decision record of {name} can reach {bound:,} bytes, over the {KINESIS_RECORD.max_bytes:,} one "
            f"Kinesis record holds ({KINESIS_RECORD.doc}): the model server could not log such a decision and "
            f"would answer 503. {fix}",
        )
