"""The bootstrap stack: GitHub OIDC federation into per-environment deploy roles and a preview role."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
import yaml

from infra import deploy_access
from infra.bootstrap import BootstrapConfig
from infra.render import refusals
from infra.rendering import ACCOUNT_ID, BOOTSTRAP_PROJECT, REPO, STACKS, Rendered, render_bootstrap

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
PROJECT_DIR = REPO / "infra" / "stacks" / "bootstrap"


@pytest.fixture(scope="module")
def bootstrap() -> Rendered:
    return render_bootstrap(BootstrapConfig(github_repository="bnpl/mlplat", region="eu-west-1"))


def _document(resource: Any, key: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(resource.plain[key])
    return document


def test_each_environment_deploy_role_trusts_only_that_github_environment(bootstrap: Rendered) -> None:
    for environment in ("dev", "staging", "prod"):
        role = bootstrap.one(ROLE, f"github-mlplat-deploy-{environment}")
        (statement,) = _document(role, "assumeRolePolicy")["Statement"]
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert statement["Principal"] == {"Federated": bootstrap.outputs["oidcProviderArn"]}
        assert statement["Condition"]["StringEquals"] == {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": [f"repo:bnpl/mlplat:environment:{environment}"],
        }
        assert role.plain["maxSessionDuration"] == 3600
    preview = bootstrap.one(ROLE, "github-mlplat-preview")
    subjects = _document(preview, "assumeRolePolicy")["Statement"][0]["Condition"]["StringEquals"]
    assert subjects["token.actions.githubusercontent.com:sub"] == ["repo:bnpl/mlplat:pull_request"]


def test_the_oidc_provider_is_github_for_sts_or_the_accounts_existing_one() -> None:
    made = render_bootstrap(BootstrapConfig(github_repository="bnpl/mlplat", region="eu-west-1"))
    (provider,) = made.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert provider.plain["url"] == "https://token.actions.githubusercontent.com"
    assert provider.plain["clientIdLists"] == ["sts.amazonaws.com"]
    existing = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/token.actions.githubusercontent.com"
    reused = render_bootstrap(
        BootstrapConfig(github_repository="bnpl/mlplat", region="eu-west-1", existing_oidc_provider_arn=existing)
    )
    assert reused.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider") == []
    assert reused.outputs["oidcProviderArn"] == existing


def test_a_deploy_role_manages_its_environment_in_its_region_and_cannot_become_anyone(bootstrap: Rendered) -> None:
    statements = _document(bootstrap.one(ROLE_POLICY, "github-mlplat-deploy-prod-deploy"), "policy")["Statement"]
    allowed = [s for s in statements if s["Effect"] == "Allow"]
    for statement in allowed:
        if statement["Resource"] == "*":
            # Anything on every resource is held to the region or to named service-linked roles.
            assert statement["Condition"], statement
    iam = [s for s in allowed if any(a.startswith("iam:") for a in _actions(s)) and s["Resource"] != "*"]
    targets = {target for s in iam for target in _list(s["Resource"])}
    assert f"arn:aws:iam::{ACCOUNT_ID}:role/mlplat-prod-*" in targets
    assert not any("mlplat-staging" in t or t.endswith("role/mlplat-*") for t in targets)
    # The deploy roles are named outside the prefix they manage: none can edit itself.
    assert not deploy_access.deploy_role_name("prod").startswith("mlplat-prod-")
    (denied,) = [s for s in statements if s["Effect"] == "Deny"]
    assert {"sts:AssumeRole", "iam:CreateUser", "iam:CreateAccessKey"} <= set(denied["Action"])
    attach = next(s for s in allowed if "iam:AttachRolePolicy" in _actions(s))
    assert all(arn.startswith("arn:aws:iam::aws:policy/") for arn in attach["Condition"]["ArnEquals"]["iam:PolicyARN"])


def test_the_preview_role_views_names_and_reads_no_data_but_the_state(bootstrap: Rendered) -> None:
    attachment = bootstrap.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "github-mlplat-preview-view-only")
    assert attachment.plain["policyArn"].endswith("job-function/ViewOnlyAccess")
    state = _document(bootstrap.one(ROLE_POLICY, "github-mlplat-preview-state"), "policy")["Statement"]
    assert {a for s in state for a in _actions(s)} == {
        "s3:ListBucket",
        "s3:GetBucketLocation",
        "s3:GetObject",
        "kms:Decrypt",
    }
    preview = _document(bootstrap.one(ROLE_POLICY, "github-mlplat-preview-preview"), "policy")["Statement"]
    deny = next(s for s in preview if s["Effect"] == "Deny")
    assert "secretsmanager:GetSecretValue" in deny["Action"]


def test_the_state_bucket_and_secrets_key_are_encrypted_protected_and_named_in_the_outputs(bootstrap: Rendered) -> None:
    bucket = bootstrap.one("aws:s3/bucket:Bucket", "mlplat-pulumi-state-bucket")
    assert bucket.protect
    assert (
        bootstrap.outputs["stateBackendUrl"]
        == f"s3://mlplat-pulumi-state-{ACCOUNT_ID}-eu-west-1?region=eu-west-1&awssdk=v2"
    )
    assert bootstrap.outputs["secretsProvider"] == "awskms://alias/mlplat-pulumi-secrets?region=eu-west-1"
    assert set(bootstrap.outputs["deployRoleArns"]) == {"dev", "staging", "prod"}


def test_a_repository_that_is_not_owner_slash_name_is_refused() -> None:
    with pytest.raises(ValueError, match="must be <owner>/<name>"):
        deploy_access.github_trust("arn", "mlplat", ["pull_request"])


def test_the_bootstrap_project_is_what_pulumi_runs() -> None:
    project = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())
    assert project["name"] == BOOTSTRAP_PROJECT
    assert (PROJECT_DIR / "__main__.py").is_file()
    assert (PROJECT_DIR / project["runtime"]["options"]["virtualenv"]).resolve() == (REPO / ".venv").resolve()
    config = yaml.safe_load((PROJECT_DIR / "Pulumi.account.yaml").read_text())["config"]
    assert config[f"{BOOTSTRAP_PROJECT}:githubRepository"].count("/") == 1


def _actions(statement: dict[str, Any]) -> list[str]:
    return _list(statement["Action"])


def _list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


# --- the deploy role can do what `pulumi up` of the platform does -----------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_the_deploy_role_may_create_everything_the_platform_stack_declares(
    stacks: dict[str, Rendered], stack: str
) -> None:
    resources = [(r.type, r.name, r.plain) for r in stacks[stack].resources]
    assert deploy_access.deploy_rights_problems(resources) == []


def test_the_rendered_deploy_policy_has_the_rights_the_platform_needs(bootstrap: Rendered) -> None:
    statements = _document(bootstrap.one(ROLE_POLICY, "github-mlplat-deploy-prod-deploy"), "policy")["Statement"]
    actions = {a for s in statements if s["Effect"] == "Allow" for a in _actions(s)}
    assert "aps:*" in actions
    linked = next(s for s in statements if "iam:CreateServiceLinkedRole" in _actions(s))
    assert "scraper.aps.amazonaws.com" in linked["Condition"]["StringEquals"]["iam:AWSServiceName"]
    attach = next(s for s in statements if "iam:AttachRolePolicy" in _actions(s))
    rds = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
    assert rds in attach["Condition"]["ArnEquals"]["iam:PolicyARN"]


@pytest.mark.parametrize(
    ("resource", "problem"),
    [
        (("aws:amp/workspace:Workspace", "w", {}), None),
        (("aws:sqs/queue:Queue", "q", {}), "the deploy role has no sqs:* rights"),
        (
            (
                "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
                "a",
                {"policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
            ),
            "a: the deploy role may not attach arn:aws:iam::aws:policy/AdministratorAccess",
        ),
        (
            (
                "aws:iam/role:Role",
                "r",
                {"assumeRolePolicy": json.dumps({"Statement": [{"Principal": {"Service": "lambda.amazonaws.com"}}]})},
            ),
            "r: the deploy role may not pass roles to lambda.amazonaws.com",
        ),
    ],
    ids=["amp", "unlisted-service", "unlisted-policy", "unlisted-passed-to"],
)
def test_a_right_the_deploy_role_lacks_is_named(resource: tuple[str, str, dict[str, Any]], problem: str | None) -> None:
    problems = deploy_access.deploy_rights_problems([resource])
    if problem is None:
        assert problems == []
    else:
        (found,) = problems
        assert problem in found
        assert found.endswith("add it in infra/deploy_access.py and deploy the bootstrap stack again")


@pytest.mark.parametrize(
    ("resource_type", "prefix"),
    [
        ("aws:amp/scraper:Scraper", "aps"),
        ("aws:emrserverless/application:Application", "emr-serverless"),
        ("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "ec2"),
        ("aws:cloudwatch/logGroup:LogGroup", "logs"),
        ("aws:cloudwatch/metricAlarm:MetricAlarm", "cloudwatch"),
        ("aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream", "firehose"),
        ("aws:kinesis/stream:Stream", "kinesis"),
    ],
)
def test_iam_prefixes_of_resource_types(resource_type: str, prefix: str) -> None:
    assert deploy_access.iam_prefix(resource_type) == prefix


def test_a_render_the_deploy_role_could_not_deploy_is_refused(stacks: dict[str, Rendered]) -> None:
    queue = replace(stacks["dev"].resources[0], type="aws:sqs/queue:Queue", name="dead-letters", inputs={})
    (problem,) = refusals([*stacks["dev"].resources, queue])
    assert problem.startswith("aws:sqs/queue:Queue: the deploy role has no sqs:* rights")
