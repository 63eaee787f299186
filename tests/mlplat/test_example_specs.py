"""The repository's own specs load cleanly and say what the platform serves."""

from __future__ import annotations

from pathlib import Path

from mlplat.catalog import Catalog
from mlplat.loader import load_catalog, validate_directory
from mlplat.schema import json_schema_text, markdown_reference


def test_example_specs_are_valid(specs_dir: Path) -> None:
    result = validate_directory(specs_dir)
    assert [str(d) for d in result.diagnostics] == []
    catalog = result.catalog
    assert catalog is not None
    assert set(catalog.entities) == {"applicant", "merchant"}
    assert set(catalog.models) == {"default_risk", "fraud"}
    assert len(catalog.feature_views) >= 4
    assert sum(len(v.spec.features) for v in catalog.feature_views.values()) >= 30


def test_snapshot_round_trip_keeps_content(specs_dir: Path) -> None:
    catalog = load_catalog(specs_dir)
    again = Catalog.from_snapshot(catalog.to_snapshot())
    assert again.digest == catalog.digest
    assert again.model_inputs("default_risk") == catalog.model_inputs("default_risk")


def test_model_inputs_resolve_dtypes_and_reasons(specs_dir: Path) -> None:
    inputs = load_catalog(specs_dir).model_inputs("default_risk")
    by_ref = {i.ref: i for i in inputs}
    assert by_ref["bureau_profile:fico_score"].dtype == "int32"
    assert by_ref["bureau_profile:fico_score"].reason == "Credit score is too low"
    assert by_ref["request:order_amount"].from_request
    assert by_ref["request:order_amount"].reason == "Amount requested is too high for the credit profile"


def test_every_spec_file_points_editors_at_the_schema(specs_dir: Path) -> None:
    for path in specs_dir.rglob("*.yaml"):
        assert path.read_text().startswith("# yaml-language-server: $schema=../mlplat.schema.json"), path


def test_committed_schema_is_current(specs_dir: Path) -> None:
    committed = (specs_dir / "mlplat.schema.json").read_text()
    assert committed == json_schema_text(), "run `make schema` and commit the result"


def test_spec_reference_is_current(repo: Path) -> None:
    committed = (repo / "docs" / "specs.md").read_text()
    assert committed == markdown_reference(), "run `make schema` and commit the result"
