"""The one name table: what validate derives from a spec name, and the rule each derived name follows."""

from __future__ import annotations

import pytest

from mlplat.name_limits import (
    AUTONAME_SUFFIX_LENGTH,
    DERIVED_NAMES,
    NAME_RULES,
    DerivedName,
    derived,
    longest_name,
    name_limit,
    name_problems,
    too_long,
)
from mlplat.schema import markdown_reference
from mlplat.spec.types import MAX_NAME_LENGTH


def _longest(kind: str) -> int:
    return min(longest_name(kind), MAX_NAME_LENGTH)


def _checked_name(derived_name: DerivedName, name: str) -> str:
    """The derived name as the API sees it, a random suffix stood in by ``-`` and ``a``s."""
    rendered = derived_name.render("staging", name)
    return rendered + "-" + "a" * (AUTONAME_SUFFIX_LENGTH - 1) if derived_name.autonamed else rendered


@pytest.mark.parametrize("derived_name", DERIVED_NAMES, ids=lambda d: d.what)
def test_every_derived_name_follows_a_rule_of_the_table(derived_name: DerivedName) -> None:
    rule = NAME_RULES[derived_name.resource_type]
    assert derived_name.rule is rule
    assert derived_name.limit == rule.max_length
    # Only a resource Pulumi can auto-name gets a random suffix.
    assert rule.autonamed or not derived_name.autonamed


@pytest.mark.parametrize("derived_name", DERIVED_NAMES, ids=lambda d: d.what)
def test_the_longest_spec_name_validate_accepts_makes_names_the_api_accepts(derived_name: DerivedName) -> None:
    # Length and characters: a spec name's `_` becomes `-`, and every pattern must take that.
    name = "a_" + "b" * (_longest(derived_name.kind) - 2)
    assert too_long(derived_name.kind, name) == []
    assert name_problems(derived_name.rule, _checked_name(derived_name, name)) == []


@pytest.mark.parametrize("kind", ["Model", "FeatureView"])
def test_one_character_past_the_longest_name_breaks_exactly_the_tightest_rules(kind: str) -> None:
    name = "n" * (longest_name(kind) + 1)
    refused = {d.what for d, _, _ in too_long(kind, name)}
    over = {d.what for d in DERIVED_NAMES if d.kind == kind and name_problems(d.rule, _checked_name(d, name))}
    assert refused == over != set()


def test_the_model_role_is_the_tightest_model_name() -> None:
    # mlplat-staging-model-<name>-role plus Pulumi's 8 characters within IAM's 64.
    role = derived("model server's IAM role")
    assert role.rule.max_length == 64
    assert longest_name("Model") == 64 - len("mlplat-staging-model--role") - AUTONAME_SUFFIX_LENGTH == 30


@pytest.mark.parametrize(
    ("resource_type", "name", "problem"),
    [
        ("emr-serverless:job-run", "materialize-card-velocity", None),
        ("emr-serverless:job-run", " ", "does not match"),
        ("emr-serverless:job-run", "j" * 257, "the API allows 1-256"),
        ("kubernetes:core/v1:Service", "model-default-risk", None),
        ("kubernetes:core/v1:Service", "model-default_risk", "does not match"),
        ("kubernetes:core/v1:Service", "1-model", "does not match"),
        ("kubernetes:core/v1:Service", "m" * 64, "the API allows 1-63"),
        ("kubernetes:apps/v1:Deployment", "model-default-risk", None),
        ("kubernetes:core/v1:ConfigMap", "model-default-risk-catalog", None),
        ("kubernetes:core/v1:ConfigMap", "-catalog", "does not match"),
        ("aws:iam/rolePolicy:RolePolicy", "p" * 129, "the API allows 1-128"),
        ("aws:cloudwatch/metricAlarm:MetricAlarm", "a" * 256, "the API allows 1-255"),
    ],
)
def test_the_rules_of_names_validate_derives(resource_type: str, name: str, problem: str | None) -> None:
    found = name_problems(NAME_RULES[resource_type], name)
    assert found == [] if problem is None else any(problem in p for p in found), found


@pytest.mark.parametrize("kind", ["Entity", "Source", "FeatureView", "FeatureService", "Model", "Caller"])
def test_each_kinds_name_limit_is_the_tightest_of_the_language_and_its_derived_names(kind: str) -> None:
    limit, binding = name_limit(kind)
    assert limit == _longest(kind)
    assert too_long(kind, "n" * limit) == []
    if binding is None:
        assert limit == MAX_NAME_LENGTH
    else:
        assert limit < MAX_NAME_LENGTH
        assert binding in {d for d, _, _ in too_long(kind, "n" * (limit + 1))}


def test_the_reference_states_the_model_limit_the_role_sets() -> None:
    limit, binding = name_limit("Model")
    assert (limit, binding) == (30, derived("model server's IAM role"))
    row = next(line for line in markdown_reference().splitlines() if line.startswith("| Model | "))
    assert row.startswith("| Model | 30 | the model server's IAM role `mlplat-staging-model-<name>-role`")
