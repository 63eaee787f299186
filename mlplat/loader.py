"""Loads a spec directory into a :class:`~mlplat.catalog.Catalog`, reporting every problem at once."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mlplat.catalog import Catalog, SpecValidationError, build_catalog
from mlplat.catalog_checks import build_index, run_checks
from mlplat.deploy_checks import (
    check_artifacts,
    check_decision_records,
    check_name_lengths,
    check_owner_tags,
    check_rule_namespace_size,
    check_slice_sizes,
)
from mlplat.diagnostics import Diagnostic, Location, Severity, has_errors
from mlplat.document_validation import ValidDocument, raw_name, validate_document
from mlplat.errors import UsageError
from mlplat.partial_checks import check_invalid_documents
from mlplat.yaml_reader import YamlDocument, read_yaml_file

SPEC_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class ValidationResult:
    """What a validation run found: the catalog when there were no errors, and every diagnostic."""

    catalog: Catalog | None
    diagnostics: tuple[Diagnostic, ...]
    files: int

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.WARNING]


def spec_files(root: Path) -> list[Path]:
    """Every ``*.yaml``/``*.yml`` below ``root``, sorted; hidden directories are skipped."""
    if not root.is_dir():
        raise UsageError(f"spec directory {str(root)!r} does not exist or is not a directory")
    found: list[Path] = []
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        found.extend(Path(directory, f) for f in files if f.endswith(SPEC_SUFFIXES))
    return sorted(found)


def _check_documents(
    documents: Sequence[YamlDocument], diagnostics: list[Diagnostic], artifacts: Path | None = None
) -> Catalog | None:
    valid: list[ValidDocument] = []
    invalid: list[YamlDocument] = []
    invalid_names: set[tuple[str, str]] = set()
    for doc in documents:
        if not doc.complete:
            if (name := raw_name(doc)) is not None:
                invalid_names.add(name)
            continue
        checked, problems = validate_document(doc)
        diagnostics.extend(problems)
        if checked is not None:
            valid.append(checked)
            continue
        invalid.append(doc)
        if (name := raw_name(doc)) is not None:
            invalid_names.add(name)
    diagnostics.extend(run_checks(valid, invalid_names))
    diagnostics.extend(check_invalid_documents(invalid, build_index(valid, invalid_names)))
    diagnostics.extend(check_name_lengths(valid))
    diagnostics.extend(check_owner_tags(valid))
    if artifacts is not None:
        diagnostics.extend(check_artifacts(valid, artifacts))
    catalog = None if has_errors(diagnostics) else build_catalog([doc.obj for doc in valid], diagnostics)
    if catalog is not None:
        diagnostics.extend(check_slice_sizes(catalog, valid))
        diagnostics.extend(check_rule_namespace_size(catalog, valid))
        diagnostics.extend(check_decision_records(catalog, valid))
    diagnostics.sort(key=lambda d: (d.location, d.severity != Severity.ERROR))
    return None if has_errors(diagnostics) else catalog


def validate_directory(root: Path, *, artifacts: Path | None = None) -> ValidationResult:
    """Read, validate and cross-check every spec file below ``root``.

    With ``artifacts`` (an artifact root), local model artifacts must be there with their
    pinned sha256.
    """
    files = spec_files(root)
    documents: list[YamlDocument] = []
    diagnostics: list[Diagnostic] = []
    for path in files:
        docs, problems = read_yaml_file(path, str(path))
        documents.extend(docs)
        diagnostics.extend(problems)
    if not files:
        diagnostics.append(
            Diagnostic(Location(str(root)), (), "no *.yaml or *.yml files here; point at the spec directory")
        )
    catalog = _check_documents(documents, diagnostics, artifacts)
    return ValidationResult(catalog, tuple(diagnostics), len(files))


def load_catalog(root: Path) -> Catalog:
    """The catalog of the specs below ``root``; raises :class:`~mlplat.catalog.SpecValidationError` on any error."""
    result = validate_directory(root)
    if result.catalog is None:
        raise SpecValidationError(result.diagnostics)
    return result.catalog


def catalog_from_values(values: Sequence[object], file: str) -> Catalog:
    """A catalog from already-parsed documents (a snapshot), checked like files are."""
    documents = [YamlDocument(file, i, value, {}) for i, value in enumerate(values)]
    diagnostics: list[Diagnostic] = []
    catalog = _check_documents(documents, diagnostics)
    return catalog if catalog is not None else build_catalog([], diagnostics)
