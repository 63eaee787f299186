"""Spec changes in spec words: fields by path, durations as written, new artifacts checked."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from mlplat.catalog import SpecValidationError
from mlplat.plan.spec_changes import artifact_status, base_documents, documents, head_catalog, spec_changes
from tests.spec_edits import edit_spec


def test_a_ttl_change_is_one_line_with_the_durations_as_written(spec_tree: Path, specs_dir: Path) -> None:
    edit_spec(spec_tree / "specs/features/repayment_history.yaml", "ttl: 7d", "ttl: 14d")
    found = spec_changes(base_documents(specs_dir), documents(head_catalog(spec_tree / "specs")), spec_tree / "models")
    assert [(c.object, c.path, c.before, c.after) for c in found] == [
        ("FeatureView/repayment_history", "spec.ttl", "7d", "14d")
    ]


def test_a_new_primary_version_says_its_artifact_is_new_and_found(spec_tree: Path, specs_dir: Path) -> None:
    models = spec_tree / "models/fraud/v3"
    models.mkdir(parents=True)
    artifact = (spec_tree / "models/fraud/v2/model.txt").read_bytes() + b"\n"
    (models / "model.txt").write_bytes(artifact)
    digest = hashlib.sha256(artifact).hexdigest()
    spec = spec_tree / "specs/models/fraud.yaml"
    text = spec.read_text()
    assert "primary: v2" in text
    version = f'    - name: v3\n      artifact:\n        uri: fraud/v3/model.txt\n        sha256: "{digest}"\n      approval:\n        state: approved\n'
    text = text.replace("  versions:\n", "  versions:\n" + version, 1).replace("primary: v2", "primary: v3", 1)
    spec.write_text(text)
    found = spec_changes(base_documents(specs_dir), documents(head_catalog(spec_tree / "specs")), spec_tree / "models")
    rollout = [c for c in found if c.path == "spec.rollout.primary"]
    assert [(c.object, c.before, c.after) for c in rollout] == [("Model/fraud", "v2", "v3")]
    assert rollout[0].note == f"new artifact, sha256 {digest[:12]}…, found"
    assert any(c.path == "spec.versions[v3]" and c.before is None for c in found)


def test_artifact_status_names_what_is_wrong(tmp_path: Path) -> None:
    (tmp_path / "m.txt").write_bytes(b"model")
    good = hashlib.sha256(b"model").hexdigest()
    assert artifact_status("m.txt", good, tmp_path) == "found"
    assert artifact_status("gone.txt", good, tmp_path) == f"missing at {tmp_path / 'gone.txt'}"
    assert artifact_status("m.txt", "0" * 64, tmp_path).startswith("sha256 differs at")
    assert artifact_status("s3://bucket/m.txt", good, tmp_path) == "in S3, not checked here"


def test_added_and_removed_objects(spec_tree: Path, specs_dir: Path) -> None:
    (spec_tree / "specs/features/merchant_risk.yaml").unlink()
    before = base_documents(specs_dir)
    after = {k: v for k, v in before.items() if k != "FeatureView/merchant_risk"}
    after["Entity/store"] = {"kind": "Entity", "metadata": {"name": "store"}, "spec": {}}
    found = [(c.object, c.path, c.before, c.after) for c in spec_changes(before, after, spec_tree / "models")]
    assert ("Entity/store", "", None, "added") in found
    assert ("FeatureView/merchant_risk", "", "removed", None) in found


def test_a_base_this_code_cannot_validate_is_read_as_written(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "apiVersion: mlplat/v1\nkind: Entity\nmetadata: {name: applicant}\nspec: {oldField: 1}\n"
    )
    assert base_documents(tmp_path)["Entity/applicant"]["spec"] == {"oldField": 1}


def test_invalid_working_tree_specs_raise_every_located_error(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "apiVersion: mlplat/v1\nkind: Entity\nmetadata: {name: applicant}\nspec: {oldField: 1}\n"
    )
    with pytest.raises(SpecValidationError) as raised:
        head_catalog(tmp_path)
    assert "a.yaml:4" in str(raised.value)
