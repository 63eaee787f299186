"""What a change did to the specs, in the specs' own words.

``FeatureView/repayment_history  spec.ttl  7d -> 14d``: objects are matched by kind and
name, their fields compared after validation (so a default written out is no change),
durations kept as written, lists of named items matched by name. A rollout that now
names another version says whether that version's artifact is new and whether the
pinned file is present.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlplat.catalog import Catalog, SpecValidationError
from mlplat.loader import spec_files, validate_directory
from mlplat.plan.structure import changes
from mlplat.yaml_reader import read_yaml_file

_ROLLOUT_ROLES = ("spec.rollout.primary", "spec.rollout.canary.version", "spec.rollout.shadow.version")


@dataclass(frozen=True)
class SpecChange:
    """One changed field of one spec object (``path`` empty: the object was added or removed)."""

    object: str
    """``Kind/name``."""
    path: str
    before: Any
    after: Any
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"object": self.object, "path": self.path, "before": self.before, "after": self.after, "note": self.note}


def documents(catalog: Catalog) -> dict[str, dict[str, Any]]:
    """Each object of ``catalog`` as its spec would write it, by ``Kind/name``."""
    return {
        f"{obj.kind}/{obj.metadata.name}": obj.model_dump(mode="json", by_alias=True, exclude_none=True)
        for obj in catalog.objects()
    }


def raw_documents(root: Path) -> dict[str, dict[str, Any]]:
    """The documents of a spec tree as written, for a base whose specs this code cannot validate."""
    found: dict[str, dict[str, Any]] = {}
    if not root.is_dir():
        return found
    for path in spec_files(root):
        for doc in read_yaml_file(path, str(path))[0]:
            value = doc.value
            if isinstance(value, dict) and isinstance(value.get("metadata"), dict):
                found.setdefault(f"{value.get('kind')}/{value['metadata'].get('name')}", value)
    return found


def base_documents(root: Path) -> dict[str, dict[str, Any]]:
    """The base's objects: validated when this code can, else as written."""
    if not root.is_dir():
        return {}
    result = validate_directory(root)
    return documents(result.catalog) if result.catalog is not None else raw_documents(root)


def head_catalog(root: Path) -> Catalog:
    """The working tree's catalog; :class:`SpecValidationError` (every located error) when invalid."""
    result = validate_directory(root)
    if result.catalog is None:
        raise SpecValidationError(result.diagnostics)
    return result.catalog


def spec_changes(
    before: Mapping[str, dict[str, Any]], after: Mapping[str, dict[str, Any]], artifact_root: Path
) -> list[SpecChange]:
    """Every changed field between two sets of documents, objects in kind/name order."""
    found: list[SpecChange] = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old is None:
            found.append(SpecChange(key, "", None, "added"))
        elif new is None:
            found.append(SpecChange(key, "", "removed", None))
        else:
            for change in changes(_comparable(old), _comparable(new)):
                note = _artifact_note(change.path, change.after, old, new, artifact_root)
                found.append(SpecChange(key, change.path, change.before, change.after, note))
    return found


def _comparable(document: Mapping[str, Any]) -> dict[str, Any]:
    """A document without ``apiVersion``, ``kind`` and its name: those identify it."""
    rest = {k: v for k, v in document.items() if k not in ("apiVersion", "kind")}
    metadata = {k: v for k, v in dict(rest.get("metadata") or {}).items() if k != "name"}
    return {**rest, "metadata": metadata}


def _versions(document: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    items = (document.get("spec") or {}).get("versions") or []
    return {v["name"]: v for v in items if isinstance(v, Mapping) and isinstance(v.get("name"), str)}


def _artifact_note(path: str, version: Any, old: Mapping[str, Any], new: Mapping[str, Any], artifact_root: Path) -> str:
    if path not in _ROLLOUT_ROLES or not isinstance(version, str):
        return ""
    artifact = (_versions(new).get(version) or {}).get("artifact") or {}
    uri, sha256 = artifact.get("uri"), artifact.get("sha256")
    if not isinstance(uri, str) or not isinstance(sha256, str):
        return ""
    known = {str((v.get("artifact") or {}).get("sha256")) for v in _versions(old).values()}
    novelty = "known artifact" if sha256 in known else "new artifact"
    return f"{novelty}, sha256 {sha256[:12]}…, {artifact_status(uri, sha256, artifact_root)}"


def artifact_status(uri: str, sha256: str, artifact_root: Path) -> str:
    """``found``, ``missing at <path>``, ``sha256 differs at <path>``, or that S3 is not checked."""
    if uri.startswith("s3://"):
        return "in S3, not checked here"
    path = artifact_root / uri
    if not path.is_file():
        return f"missing at {path}"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return "found" if digest == sha256 else f"sha256 differs at {path} ({digest[:12]}…)"
