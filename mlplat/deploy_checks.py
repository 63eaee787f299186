"""What a deploy depends on beyond the spec language, checked by ``mlplat validate``.

* Names: every AWS and Kubernetes name derived from a spec name fits its limit after the
  prefixes the program adds (:data:`mlplat.name_limits.NAME_RULES`, the table the program's
  own render-time name checks read).
* Catalog slices: each service starts from its slice of the catalog, mounted from a
  ConfigMap, and a ConfigMap holds at most 1 MiB. The slices are defined here and the
  program deploys exactly these (``infra/workloads``).
* Artifacts: a model version whose artifact is a local path must have that file, with
  the pinned sha256, under the artifact root.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from mlplat.catalog import Catalog
from mlplat.diagnostics import Diagnostic
from mlplat.diagnostics import Path as FieldPath
from mlplat.document_validation import ValidDocument
from mlplat.name_limits import too_long
from mlplat.spec.kinds import FeatureView, Model

#: The most a ConfigMap holds (https://kubernetes.io/docs/concepts/configuration/configmap/#motivation).
CONFIGMAP_MAX_BYTES = 1024 * 1024
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
        size = _size(snapshot_text(sliced))
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
