"""`mlplat validate` refuses what a deploy would: long derived names, oversized slices, missing artifacts."""

from __future__ import annotations

from pathlib import Path

from mlplat.deploy_checks import CONFIGMAP_MAX_BYTES, feature_server_catalog, slo_rules, snapshot_text
from mlplat.loader import load_catalog, validate_directory
from mlplat.name_limits import longest_name
from mlplat.object_limits import AMP_RULE_NAMESPACE, text_bytes
from mlplat.operations.objectives import catalog_slos
from mlplat.operations.rules import RuleFile
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


def test_an_owner_aws_would_refuse_as_a_tag_is_refused_where_it_is_tagged(spec_tree: Path) -> None:
    # The owner is tagged on the model's and the scheduled view's resources; a comma is no tag character.
    edit_spec(spec_tree / "specs/models/fraud.yaml", "owner: fraud@bnpl.example", "owner: fraud, risk")
    edit_spec(spec_tree / "specs/features/application_velocity.yaml", "owner: ", "owner: ml#platform  # ")
    errors = _errors(spec_tree)
    assert errors == [
        "specs/features/application_velocity.yaml:6:10: error: metadata.owner: 'ml#platform' is tagged on the "
        "FeatureView's AWS resources as 'owner', and a tag value is up to 256 letters, digits, spaces and "
        "_ . : / = + - @ (https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html) ('#' refused); "
        "write a team handle or an email address such as 'credit-risk@bnpl.example'",
        "specs/models/fraud.yaml:6:10: error: metadata.owner: 'fraud, risk' is tagged on the Model's AWS "
        "resources as 'owner', and a tag value is up to 256 letters, digits, spaces and _ . : / = + - @ "
        "(https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html) (',' refused); "
        "write a team handle or an email address such as 'credit-risk@bnpl.example'",
    ]


def test_an_owner_that_is_never_tagged_may_use_any_text(spec_tree: Path) -> None:
    # Callers and unscheduled views make no AWS resources of their own.
    path = spec_tree / "specs/callers/callers.yaml"
    edit_spec(path, "owner: ", "owner: checkout, payments  # ")
    assert _errors(spec_tree) == []


def _copies_of_fraud(spec_tree: Path, count: int) -> None:
    text = (spec_tree / "specs/models/fraud.yaml").read_text()
    for i in range(count):
        copy = text.replace("name: fraud\n", f"name: fraud_{i:03d}\n", 1)
        (spec_tree / f"specs/models/fraud_{i:03d}.yaml").write_text(copy)


def test_slo_rules_past_the_managed_prometheus_namespace_are_refused_at_the_largest(spec_tree: Path) -> None:
    catalog = load_catalog(spec_tree / "specs")
    rules = slo_rules(catalog)
    fraud = [g for slo, g in zip(catalog_slos(catalog), rules.groups, strict=False) if slo.subject == "fraud"]
    per_copy = text_bytes(RuleFile(fraud).to_yaml())  # each copy adds fraud's groups
    needed = (AMP_RULE_NAMESPACE.max_bytes - text_bytes(rules.to_yaml())) // per_copy + 2
    _copies_of_fraud(spec_tree, needed)
    (error,) = _errors(spec_tree)
    assert error.startswith("specs/models/")
    assert ": error: metadata.name: the alert rules of " in error
    assert "model(s) and 4 feature view(s) do not fit Managed Prometheus: the SLO rule groups namespace is " in error
    assert (
        "over the 1,000,000 it may hold (https://docs.aws.amazon.com/prometheus/latest/userguide/AMP_quotas.html)"
        in error
    )
    assert error.endswith("split the namespace (infra/components/monitoring.py) before adding more")


def test_slo_rules_within_the_namespace_pass(spec_tree: Path) -> None:
    _copies_of_fraud(spec_tree, 20)
    result = validate_directory(spec_tree / "specs")
    assert result.catalog is not None
    assert text_bytes(slo_rules(result.catalog).to_yaml()) < AMP_RULE_NAMESPACE.max_bytes


def test_a_text_request_value_is_refused_at_its_dtype(spec_tree: Path) -> None:
    # The model server scores every request value as a number; a string would fail every decision.
    values = "    - name: note\n      dtype: string\n    - name: flag\n      dtype: bool\n"
    edit_spec(spec_tree / "specs/models/fraud.yaml", "  requestValues:\n", "  requestValues:\n" + values)
    (error,) = _errors(spec_tree)
    assert error.startswith("specs/models/fraud.yaml:28:14: error: spec.requestValues[0].dtype: 'note' is a string;")
    assert error.endswith(
        "a request value is scored as a number, so it must be bool, int32, int64, float32 or float64 "
        "(encode text as a number, or look it up in a feature view)"
    )


def test_a_model_with_more_inputs_than_a_record_holds_is_refused_at_its_features(spec_tree: Path) -> None:
    # Every input is in each record as scored; 6,000 numeric request values cannot all be logged.
    count = 6000
    values = "".join(f"    - name: v{i}\n      dtype: float32\n" for i in range(count))
    refs = "".join(f"    - request:v{i}\n" for i in range(count))
    path = spec_tree / "specs/models/fraud.yaml"
    edit_spec(path, "  requestValues:\n", "  requestValues:\n" + values)
    edit_spec(path, "  features:\n", "  features:\n" + refs)
    errors = [e for e in _errors(spec_tree) if "Kinesis" in e]
    (error,) = errors
    assert error.startswith("specs/models/fraud.yaml:13:5:")
    assert ": error: spec.features: a decision record of fraud can reach " in error
    assert error.endswith(f"{count + 13} inputs each add to every record: use fewer")


def _pod_labels(count: int) -> str:
    return "  network:\n    podLabels:\n" + "".join(f"      team.label.{i:05d}: {'v' * 60}\n" for i in range(count))


def test_a_selector_too_large_for_a_network_policy_is_refused_as_a_catalog_slice_first(spec_tree: Path) -> None:
    # A NetworkPolicy admits its callers' pods by the labels their specs name; those specs are
    # in the same service's catalog slice, so the 1 MiB ConfigMap refuses them long before the
    # policy reaches the 1.5 MiB of an object (which the render-time check would refuse).
    path = spec_tree / "specs/callers/callers.yaml"
    edit_spec(path, "    name: checkout-api\n", "    name: checkout-api\n" + _pod_labels(17_000))
    (error,) = _errors(spec_tree)
    assert error.startswith("specs/callers/callers.yaml:8:9: error: metadata.name: the catalog of the feature server (")
    assert "Caller/checkout_api is its largest object" in error


def test_a_caller_with_many_pod_labels_within_the_limits_passes(spec_tree: Path) -> None:
    path = spec_tree / "specs/callers/callers.yaml"
    edit_spec(path, "    name: checkout-api\n", "    name: checkout-api\n" + _pod_labels(100))
    assert _errors(spec_tree) == []
