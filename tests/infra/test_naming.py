"""Physical names and tags, and the AWS rules each name, description and tag of a stack follows."""

from __future__ import annotations

import re
import typing
from typing import Any

import pytest

from infra.config import Environment
from infra.naming import (
    SECURITY_GROUP_DESCRIPTION,
    SECURITY_GROUP_RULE_DESCRIPTION,
    bucket_name,
    model_service_account,
    name_prefix,
    physical_name,
    physical_name_of,
    resource_name_problems,
    spec_tags,
)
from infra.rendering import STACKS, Rendered, render, stack_config
from mlplat.catalog import Catalog
from mlplat.name_limits import (
    AUTONAME_SUFFIX_LENGTH,
    DERIVED_NAMES,
    ENVIRONMENTS,
    NAME_RULES,
    DerivedName,
    longest_name,
    name_problems,
    too_long,
)
from mlplat.object_limits import tag_problems
from mlplat.spec.types import MAX_NAME_LENGTH


def test_names_are_deterministic_and_fit_aws_limits() -> None:
    longest = "a" * 32
    assert physical_name("staging", "model", "default_risk") == "mlplat-staging-model-default-risk"
    assert len(physical_name("staging", "model", longest)) <= 64  # IAM role names
    assert (
        bucket_name("prod", "artifacts", "123456789012", "eu-west-1") == "mlplat-prod-artifacts-123456789012-eu-west-1"
    )
    assert len(bucket_name("staging", "decision-archive", "123456789012", "ap-southeast-2")) <= 63
    assert model_service_account("default_risk") == "model-default-risk"
    assert spec_tags({"environment": "dev"}, "Model", "fraud", None) == {
        "environment": "dev",
        "mlplat-spec": "Model/fraud",
    }


# --- what AWS accepts as a name ------------------------------------------------------------

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ROLE = "aws:iam/role:Role"


@pytest.mark.parametrize(
    ("type_", "logical", "inputs", "name"),
    [
        (NODE_GROUP, "g", {"nodeGroupName": "mlplat-prod-system"}, "mlplat-prod-system"),
        (NODE_GROUP, "g", {"nodeGroupNamePrefix": "mlplat-prod-system-"}, "mlplat-prod-system-" + "0" * 26),
        (NODE_GROUP, "g", {}, None),  # EKS would name it; nothing to check
        (ROLE, "mlplat-prod-feature-server-role", {}, "mlplat-prod-feature-server-role-aaaaaaa"),
        (ROLE, "r", {"name": "fixed"}, "fixed"),
    ],
)
def test_the_physical_name_counts_the_generated_suffix(
    type_: str, logical: str, inputs: dict[str, str], name: str | None
) -> None:
    assert physical_name_of(NAME_RULES[type_], logical, inputs) == name


@pytest.mark.parametrize(
    ("type_", "name", "problem"),
    [
        (NODE_GROUP, "a" * 63, None),
        (NODE_GROUP, "a" * 64, "is 64 characters; the API allows 1-63"),
        (NODE_GROUP, "-starts-with-a-dash", "does not match"),
        (ROLE, "r" * 64, None),
        (ROLE, "r" * 65, "is 65 characters; the API allows 1-64"),
        ("aws:elasticache/replicationGroup:ReplicationGroup", "mlplat-staging-online", None),
        ("aws:elasticache/replicationGroup:ReplicationGroup", "a" * 41, "the API allows 1-40"),
        ("aws:elasticache/replicationGroup:ReplicationGroup", "two--dashes", "does not match"),
        ("aws:rds/instance:Instance", "mlplat-prod-registry", None),
        ("aws:rds/instance:Instance", "1-starts-with-a-digit", "does not match"),
        ("aws:rds/instance:Instance", "ends-with-dash-", "does not match"),
        ("aws:rds/parameterGroup:ParameterGroup", "mlplat-prod-registry-mysql8.4", "does not match"),
        ("aws:kms/alias:Alias", "alias/mlplat-prod-data", None),
        ("aws:kms/alias:Alias", "alias/aws/mine", "does not match"),
        ("aws:kms/alias:Alias", "mlplat-prod-data", "does not match"),
        ("aws:scheduler/schedule:Schedule", "s" * 65, "the API allows 1-64"),
        ("aws:emrserverless/application:Application", "mlplat-prod-materialize", None),
        ("aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream", "f" * 65, "the API allows 1-64"),
        ("aws:sns/topic:Topic", "alerts.fifo.x", "does not match"),
        ("aws:ecr/repository:Repository", "mlplat-prod-model-server", None),
        ("aws:ecr/repository:Repository", "Mlplat", "does not match"),
        ("aws:s3/bucket:Bucket", "mlplat-prod-logs-123456789012-eu-west-1", None),
        ("aws:s3/bucket:Bucket", "Upper-Case", "does not match"),
        ("aws:s3/bucket:Bucket", "ab", "the API allows 3-63"),
        ("aws:s3/bucket:Bucket", "mlplat..logs", "does not match"),
        ("aws:s3/bucket:Bucket", "192.168.1.10", "does not match"),
        ("aws:s3/bucket:Bucket", "xn--mlplat", "does not match"),
        ("aws:s3/bucket:Bucket", "mlplat-logs-s3alias", "does not match"),
        ("aws:s3/bucket:Bucket", "mlplat-logs--x-s3", "does not match"),
        ("aws:s3/bucket:Bucket", "mlplat.logs.v2", None),
        ("aws:secretsmanager/secret:Secret", "mlplat-prod-online/auth-token-" + "0" * 26, None),
        ("aws:cloudwatch/logGroup:LogGroup", "/aws/eks/mlplat-prod/cluster", None),
        ("aws:cloudwatch/logGroup:LogGroup", "/with space", "does not match"),
    ],
)
def test_name_rules(type_: str, name: str, problem: str | None) -> None:
    found = name_problems(NAME_RULES[type_], name)
    assert found == [] if problem is None else any(problem in p for p in found), found


def test_a_prefix_is_checked_with_the_26_characters_the_provider_adds() -> None:
    assert name_prefix(NODE_GROUP, "mlplat-staging-serving") == "mlplat-staging-serving-"
    assert len(name_prefix(NODE_GROUP, "a" * 36)) + 26 == 63
    with pytest.raises(ValueError, match="is 64 characters; the API allows 1-63"):
        name_prefix(NODE_GROUP, "a" * 37)


@pytest.mark.parametrize(
    ("tags", "problem"),
    [
        ({"owner": "fraud@bnpl.example", "mlplat-spec": "Model/fraud"}, None),
        ({"k" * 129: "v"}, "tag key"),
        ({"aws:managed": "x"}, "tag key"),
        ({"owner": "v" * 257}, "tag owner="),
        ({"owner": "a,b"}, "tag owner="),
    ],
)
def test_tag_rules(tags: dict[str, str], problem: str | None) -> None:
    found = tag_problems(tags)
    assert found == [] if problem is None else any(problem in p for p in found), found


@pytest.mark.parametrize("stack", STACKS)
def test_every_name_description_and_tag_of_a_stack_is_one_aws_accepts(stacks: dict[str, Rendered], stack: str) -> None:
    problems = []
    for resource in stacks[stack].resources:
        inputs = resource.plain
        problems += resource_name_problems(resource.type, resource.name, inputs)
        tags = inputs.get("tags")
        if isinstance(tags, dict) and resource.type.startswith("aws:"):
            problems += [f"{resource.name}: {p}" for p in tag_problems(tags)]
        description = inputs.get("description")
        if resource.type == "aws:ec2/securityGroup:SecurityGroup":
            pattern = SECURITY_GROUP_DESCRIPTION
        elif resource.type.startswith("aws:vpc/securityGroup"):
            pattern = SECURITY_GROUP_RULE_DESCRIPTION
        else:
            continue
        if description is not None and re.fullmatch(pattern, description) is None:
            problems.append(f"{resource.name}: description {description!r} does not match {pattern}")
    assert problems == []


@pytest.mark.parametrize("stack", STACKS)
def test_names_that_collide_on_replacement_are_prefixes(stacks: dict[str, Rendered], stack: str) -> None:
    rendered = stacks[stack]
    for group in rendered.of_type(NODE_GROUP):
        assert "nodeGroupName" not in group.plain
        assert group.plain["nodeGroupNamePrefix"].startswith(f"mlplat-{stack}-")
    for type_ in ("aws:rds/parameterGroup:ParameterGroup", "aws:rds/subnetGroup:SubnetGroup"):
        (group,) = rendered.of_type(type_)
        assert "name" not in group.plain
        assert group.plain["namePrefix"].startswith(f"mlplat-{stack}-registry-")
    (secret,) = rendered.of_type("aws:secretsmanager/secret:Secret")
    assert "name" not in secret.plain
    assert secret.plain["namePrefix"] == f"mlplat-{stack}-online/auth-token-"
    (cache_subnets,) = rendered.of_type("aws:elasticache/subnetGroup:SubnetGroup")
    assert "name" not in cache_subnets.plain  # auto-named
    for template in rendered.of_type("aws:ec2/launchTemplate:LaunchTemplate"):
        assert "name" not in template.plain  # auto-named


NAMING_INPUTS = {"name", "namePrefix", "identifier", "replicationGroupId", "nodeGroupName", "nodeGroupNamePrefix"}


@pytest.mark.parametrize("stack", STACKS)
def test_every_aws_resource_the_stack_names_has_a_name_rule(stacks: dict[str, Rendered], stack: str) -> None:
    unruled = {
        r.type for r in stacks[stack].resources if r.type.startswith("aws:") and NAMING_INPUTS & set(r.plain)
    } - set(NAME_RULES)
    assert unruled == set()


def _catalog_named(example_catalog: Catalog, names: dict[str, str]) -> Catalog:
    """The example catalog with the fraud model and a scheduled view renamed."""
    models = [_renamed(m, names["Model"]) if m.metadata.name == "fraud" else m for m in example_catalog.models.values()]
    views = list(example_catalog.feature_views.values())
    scheduled = next(v for v in views if v.spec.materialization is not None)
    return Catalog(
        [
            *example_catalog.entities.values(),
            *example_catalog.callers.values(),
            *example_catalog.sources.values(),
            *views,
            *models,
            _renamed(scheduled, names["FeatureView"]),
        ]
    )


def _as_checked(derived_name: DerivedName, environment: str, name: str) -> str:
    rendered = derived_name.render(environment, name)
    return rendered + "-" + "a" * (AUTONAME_SUFFIX_LENGTH - 1) if derived_name.autonamed else rendered


def _is_named(name: str | None, expected: str, content_suffix: int) -> bool:
    if not content_suffix:
        return name == expected
    return name is not None and name.startswith(expected + "-") and len(name) == len(expected) + content_suffix


#: Derived names that are no resource of the program (a job run is named when it starts).
NOT_RESOURCES = {"emr-serverless:job-run"}


@pytest.mark.parametrize("past_the_edge", [0, 1], ids=["longest-accepted", "one-character-longer"])
def test_validate_and_the_render_time_checks_refuse_the_same_derived_names(
    example_catalog: Catalog, past_the_edge: int
) -> None:
    # The names `mlplat validate` lets through at the edge of NAME_RULES, and one character
    # more, rendered for real: each derived name is the name of a rendered resource, and the
    # render-time check of that resource refuses exactly what validate refuses.
    environment = max(ENVIRONMENTS, key=len)
    names = {
        "Model": "m" * (longest_name("Model") + past_the_edge),
        "FeatureView": "v" * min(longest_name("FeatureView"), MAX_NAME_LENGTH),
    }
    rendered = render(_catalog_named(example_catalog, names), stack_config(environment))
    refused_at_render = set()
    for derived_name in DERIVED_NAMES:
        if derived_name.resource_type in NOT_RESOURCES:
            continue
        expected = _as_checked(derived_name, environment, names[derived_name.kind])
        (resource,) = [
            r
            for r in rendered.of_type(derived_name.resource_type)
            if _is_named(physical_name_of(derived_name.rule, r.name, r.plain), expected, derived_name.content_suffix)
        ]
        if resource_name_problems(resource.type, resource.name, resource.plain):
            refused_at_render.add(derived_name.what)
    refused_by_validate = {d.what for kind, name in names.items() for d, _, _ in too_long(kind, name)}
    assert refused_at_render == refused_by_validate
    assert bool(refused_by_validate) == bool(past_the_edge)


def _renamed(obj: Any, name: str) -> Any:
    return obj.model_copy(update={"metadata": obj.metadata.model_copy(update={"name": name})})


def test_the_environments_of_the_name_table_are_the_stack_config_ones() -> None:
    assert typing.get_args(Environment) == ENVIRONMENTS
