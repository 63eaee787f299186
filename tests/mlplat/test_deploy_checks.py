"""`mlplat validate` refuses what a deploy would: long derived names, oversized slices, missing artifacts."""

from __future__ import annotations

from pathlib import Path

from mlplat.deploy_checks import CONFIGMAP_MAX_BYTES, feature_server_catalog, snapshot_text
from mlplat.loader import load_catalog, validate_directory
from mlplat.name_limits import longest_name
from tests.spec_edits import edit_spec


def _errors(spec_tree: Path, *, artifacts: bool = False) -> list[str]:
    result = validate_directory(spec_tree / "specs", artifacts=spec_tree / "models" if artifacts else None)
    return [str(d).removeprefix(str(spec_tree) + "/") for d in result.errors]


def test_the_example_specs_and_artifacts_pass(spec_tree: Path) -> None:
    assert _errors(spec_tree, artifacts=True) == []


def test_a_schedule_finer_than_a_minute_is_refused_with_the_granularity(spec_tree: Path) -> None:
    edit_spec(spec_tree / "specs/features/application_velocity.yaml", "every: 15m", "every: 90s")
    assert _errors(spec_tree) == [
        "specs/features/application_velocity.yaml:15:12: error: spec.materialization.every: '90s' cannot be "
        "scheduled: runs repeat in whole minutes (the scheduler's rate() takes minutes, hours or days); write e.g. '2m'"
    ]


def test_a_model_name_that_makes_its_role_name_too_long_is_refused(spec_tree: Path) -> None:
    name = "f" * (longest_name("Model") + 1)
    path = spec_tree / "specs/models/fraud.yaml"
    edit_spec(path, "name: fraud\n", f"name: {name}\n")
    (error,) = _errors(spec_tree)
    assert error.startswith(
        f"specs/models/fraud.yaml:5:9: error: metadata.name: '{name}' makes the model server's IAM role"
    )
    assert "over the limit of 64" in error
    assert error.endswith("shorten the name by 1 character(s)")


def test_a_huge_description_is_refused_by_length(spec_tree: Path) -> None:
    edit_spec(
        spec_tree / "specs/models/fraud.yaml", "description: Probability", f"description: {'x' * 5_000_000} Probability"
    )
    (error,) = _errors(spec_tree)
    assert error == (
        "specs/models/fraud.yaml:7:16: error: metadata.description: is 5,000,066 characters long; write at most 4096 characters"
    )


def test_a_slice_over_a_configmap_is_refused_at_its_largest_field(spec_tree: Path) -> None:
    # Many features, each with a description just under the limit, add up past 1 MiB.
    features = "".join(
        f"    - name: filler_{i}\n      dtype: float32\n      description: {'d' * 4000}\n" for i in range(300)
    )
    edit_spec(spec_tree / "specs/features/merchant_risk.yaml", "  features:\n", "  features:\n" + features)
    (error,) = _errors(spec_tree)
    assert error.startswith(
        "specs/features/merchant_risk.yaml:5:9: error: metadata.name: the catalog of the feature server (1."
    )
    assert "the model server of fraud (1." in error
    assert (
        "exceeds the 1.00 MiB a ConfigMap holds; FeatureView/merchant_risk is its largest object and it is 1." in error
    )


def test_the_example_slices_are_well_under_the_limit(specs_dir: Path) -> None:
    assert len(snapshot_text(feature_server_catalog(load_catalog(specs_dir))).encode()) < CONFIGMAP_MAX_BYTES / 10


def test_missing_and_changed_artifacts_are_refused(spec_tree: Path) -> None:
    (spec_tree / "models/fraud/v1/model.txt").unlink()
    changed = spec_tree / "models/fraud/v2/model.txt"
    changed.write_bytes(changed.read_bytes() + b"\n")
    errors = _errors(spec_tree, artifacts=True)
    assert len(errors) == 2
    assert "spec.versions[0].artifact.uri: 'fraud/v1/model.txt' is not under the artifact root" in errors[0]
    assert "mlplat train fraud --version v1" in errors[0]
    assert "spec.versions[1].artifact.sha256:" in errors[1]
    assert "not the pinned one" in errors[1]
    assert _errors(spec_tree) == []
