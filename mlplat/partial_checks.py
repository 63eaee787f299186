"""References of documents that have shape errors, checked anyway where they can be read.

A Model with a bad threshold still names its features; a reviewer wants to hear in the
same run that one of them does not exist, not after fixing the threshold. Only
references whose own value is well formed are checked; everything else about such a
document is already reported by its own errors.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from mlplat.catalog_checks import Index
from mlplat.diagnostics import Diagnostic, Path, did_you_mean, one_of
from mlplat.spec.kinds import REQUEST_VIEW, FeatureView
from mlplat.yaml_reader import YamlDocument

_REF = re.compile(r"^[a-z][a-z0-9_]*:[a-z][a-z0-9_]*$")


def _at(doc: YamlDocument, path: Path, value: Any) -> Any:
    for part in path:
        if isinstance(part, int):
            value = value[part] if isinstance(value, list) and part < len(value) else None
        else:
            value = value.get(part) if isinstance(value, dict) else None
    return value


def _missing(doc: YamlDocument, path: Path, kind: str, name: object, index: Index) -> Iterator[Diagnostic]:
    if isinstance(name, str) and name and not index.known(kind, name):
        choices = index.names(kind)
        message = f"{kind} {name!r} does not exist; defined: {one_of(choices)}{did_you_mean(name, choices)}"
        yield Diagnostic(doc.value_location(path), path, message)


def _feature_ref(doc: YamlDocument, path: Path, ref: object, index: Index) -> Iterator[Diagnostic]:
    if not isinstance(ref, str) or not _REF.fullmatch(ref):
        return
    view, _, feature = ref.partition(":")
    if view == REQUEST_VIEW:
        return
    if not index.known("FeatureView", view):
        choices = index.names("FeatureView")
        message = (
            f"{ref!r}: FeatureView {view!r} does not exist; defined: {one_of(choices)}{did_you_mean(view, choices)}"
        )
        yield Diagnostic(doc.value_location(path), path, message)
        return
    target = index.by_kind["FeatureView"].get(view)
    if target is not None and isinstance(target.obj, FeatureView):
        names = [f.name for f in target.obj.spec.features]
        if feature not in names:
            message = f"{ref!r} does not exist; {view} has {one_of(names)}{did_you_mean(feature, names)}"
            yield Diagnostic(doc.value_location(path), path, message)


def _list(doc: YamlDocument, path: Path) -> list[Any]:
    found = _at(doc, path, doc.value)
    return found if isinstance(found, list) else []


def _view_refs(doc: YamlDocument, index: Index) -> Iterator[Diagnostic]:
    yield from _missing(doc, ("spec", "source"), "Source", _at(doc, ("spec", "source"), doc.value), index)
    for i, entity in enumerate(_list(doc, ("spec", "entities"))):
        path: Path = ("spec", "entities", i) if isinstance(entity, str) else ("spec", "entities", i, "name")
        yield from _missing(
            doc, path, "Entity", entity if isinstance(entity, str) else _at(doc, path, doc.value), index
        )


def _model_refs(doc: YamlDocument, index: Index) -> Iterator[Diagnostic]:
    for i, ref in enumerate(_list(doc, ("spec", "features"))):
        yield from _feature_ref(doc, ("spec", "features", i), ref, index)
    label: Path = ("spec", "training", "labelSource")
    yield from _missing(doc, label, "Source", _at(doc, label, doc.value), index)


def _service_refs(doc: YamlDocument, index: Index) -> Iterator[Diagnostic]:
    for i, ref in enumerate(_list(doc, ("spec", "features"))):
        yield from _feature_ref(doc, ("spec", "features", i), ref, index)


def _source_refs(doc: YamlDocument, index: Index) -> Iterator[Diagnostic]:
    path: Path = ("spec", "batchSource")
    yield from _missing(doc, path, "Source", _at(doc, path, doc.value), index)


_BY_KIND = {"FeatureView": _view_refs, "Model": _model_refs, "FeatureService": _service_refs, "Source": _source_refs}


def check_invalid_documents(documents: Sequence[YamlDocument], index: Index) -> list[Diagnostic]:
    """The broken references of ``documents`` (each with shape errors of its own)."""
    found: list[Diagnostic] = []
    for doc in documents:
        kind = doc.value.get("kind") if isinstance(doc.value, dict) else None
        check = _BY_KIND.get(kind) if isinstance(kind, str) else None
        if check is not None:
            found += check(doc, index)
    return found
