"""The deploy order: a platform stack (AWS) then a workloads stack (Kubernetes), as ``pulumi up`` runs them.

A first ``pulumi up`` of one program that made the VPC, the private-endpoint cluster and
the ECR repositories and then waited on Deployments could reach neither the API nor an
image. Here each step is rendered on its own, under mocks, the workloads stack fed the
platform stack's outputs through its ``StackReference``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.components.cluster import CLUSTER_ADMIN_POLICY, CLUSTER_VIEW_POLICY, AccessEntryConflictError
from infra.config import StackConfig, StackConfigError, parse_stack_config
from infra.rendering import (
    DEPLOY_ROLE_ARN,
    PLATFORM_PROJECT,
    REPO,
    STACKS,
    WORKLOADS_PROJECT,
    Rendered,
    platform_stack_name,
    render_platform,
    render_workloads,
    stack_config,
)
from infra.workloads_program import PlatformMismatchError, check_platform
from mlplat.catalog import Catalog

WORKLOADS_DIR = REPO / "infra" / "stacks" / "workloads"
ACCESS_ENTRY = "aws:eks/accessEntry:AccessEntry"
ACCESS_POLICY = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"


def _config(stack: str, **cluster: Any) -> StackConfig:
    values = stack_config(stack).model_dump(mode="json", by_alias=True)
    values["cluster"].update(cluster)
    return parse_stack_config(values)


def _with_model(catalog: Catalog, name: str) -> Catalog:
    model = catalog.model("fraud")
    return Catalog(
        [*catalog.objects(), model.model_copy(update={"metadata": model.metadata.model_copy(update={"name": name})})]
    )


def _project(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


@pytest.mark.parametrize("stack", STACKS)
def test_the_platform_needs_no_cluster_api_and_the_workloads_no_aws(stacks: dict[str, Rendered], stack: str) -> None:
    platform = {r.type for r in stacks[stack].of_project(PLATFORM_PROJECT) if r.custom}
    workloads = {r.type for r in stacks[stack].of_project(WORKLOADS_PROJECT) if r.custom}
    assert not any(t.startswith(("kubernetes:", "pulumi:providers:kubernetes")) for t in platform)
    assert workloads
    assert all(t.startswith(("kubernetes:", "pulumi:providers:kubernetes")) for t in workloads)
    # The workloads stack reads the platform stack its own stack file names.
    assert set(stacks[stack].stack_references.values()) == {platform_stack_name(stack)}


@pytest.mark.parametrize("stack", STACKS)
def test_both_projects_and_their_stack_files_are_what_pulumi_runs(stack: str) -> None:
    root, workloads = _project(REPO / "Pulumi.yaml"), _project(WORKLOADS_DIR / "Pulumi.yaml")
    assert (root["name"], workloads["name"]) == (PLATFORM_PROJECT, WORKLOADS_PROJECT)
    assert (REPO / root["main"] / "__main__.py").is_file()
    assert (WORKLOADS_DIR / "__main__.py").is_file()
    # Both run in the repository's one virtualenv.
    assert (WORKLOADS_DIR / workloads["runtime"]["options"]["virtualenv"]).resolve() == (REPO / ".venv").resolve()
    config = _project(WORKLOADS_DIR / f"Pulumi.{stack}.yaml")["config"]
    assert config == {f"{WORKLOADS_PROJECT}:platformStack": f"organization/{root['name']}/{stack}"}
    assert config[f"{WORKLOADS_PROJECT}:platformStack"] == platform_stack_name(stack)


def test_a_first_deploy_renders_as_two_steps_and_each_needs_only_the_one_before(example_catalog: Catalog) -> None:
    config = stack_config("prod")
    platform = render_platform(example_catalog, config)
    outputs = platform.outputs
    assert outputs["imageRepositories"]  # what the image push between the steps needs
    assert outputs["clusterEndpoint"].startswith("https://")
    workloads = render_workloads(example_catalog, config, platform)
    images = {
        r.plain["spec"]["template"]["spec"]["containers"][0]["image"]
        for r in workloads.of_type("kubernetes:apps/v1:Deployment")
    }
    assert {image.rsplit(":", 1)[0] for image in images} <= set(outputs["imageRepositories"].values())


def test_a_spec_change_deploys_the_platform_first_then_the_workloads(example_catalog: Catalog) -> None:
    config = stack_config("staging")
    before = render_platform(example_catalog, config)
    changed = _with_model(example_catalog, "fraud_challenger")
    # Out of order: the new model's pods would start before its role and Pod Identity exist.
    with pytest.raises(PlatformMismatchError, match="run `pulumi up` of the platform stack"):
        render_workloads(changed, config, before)
    after = render_platform(changed, config)
    assert "fraud_challenger" in after.outputs["modelRoleArns"]
    workloads = render_workloads(changed, config, after)
    assert workloads.one("kubernetes:apps/v1:Deployment", "deployment-model-fraud-challenger")


def test_the_platform_check_warns_in_a_preview_and_fails_an_update() -> None:
    deployed = {"catalogDigest": "a", "stackConfigDigest": "c"}
    assert check_platform(deployed, "a", "c", preview=False) == ""
    assert "specs and stack config" in check_platform(deployed, "b", "d", preview=True)
    with pytest.raises(PlatformMismatchError, match="stack config"):
        check_platform(deployed, "a", "d", preview=False)


def test_the_api_endpoint_is_public_only_for_the_runner_cidrs(example_catalog: Catalog) -> None:
    private = render_platform(example_catalog, stack_config("prod")).one(
        "aws:eks/cluster:Cluster", "mlplat-prod-cluster-eks"
    )
    assert private.plain["vpcConfig"]["endpointPublicAccess"] is False
    runners = _config("prod", publicAccessCidrs=["198.51.100.0/28"])
    cluster = render_platform(example_catalog, runners).one("aws:eks/cluster:Cluster", "mlplat-prod-cluster-eks")
    vpc = cluster.plain["vpcConfig"]
    assert (vpc["endpointPublicAccess"], vpc["endpointPrivateAccess"]) == (True, True)
    assert vpc["publicAccessCidrs"] == ["198.51.100.0/28"]


@pytest.mark.parametrize(
    ("cidr", "message"), [("0.0.0.0/0", "opens the API to the internet"), ("10.0.0.0/8", "private range")]
)
def test_the_endpoint_refuses_the_internet_and_private_ranges(cidr: str, message: str) -> None:
    with pytest.raises(StackConfigError, match=message):
        _config("dev", publicAccessCidrs=[cidr])


@pytest.mark.parametrize("stack", STACKS)
def test_the_deploying_role_gets_an_explicit_admin_entry_not_the_creators_bootstrap(
    stacks: dict[str, Rendered], stack: str
) -> None:
    rendered = stacks[stack]
    cluster = rendered.one("aws:eks/cluster:Cluster", f"mlplat-{stack}-cluster-eks").plain
    assert cluster["accessConfig"] == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False}
    entry = rendered.one(ACCESS_ENTRY, f"mlplat-{stack}-cluster-deployer").plain
    # The role behind the STS session running `pulumi up`, not the session's ARN.
    assert entry["principalArn"] == DEPLOY_ROLE_ARN
    policy = rendered.one(ACCESS_POLICY, f"mlplat-{stack}-cluster-deployer-policy").plain
    assert (policy["policyArn"], policy["accessScope"]) == (CLUSTER_ADMIN_POLICY, {"type": "cluster"})


def test_a_named_deploy_role_admins_and_viewers_get_one_entry_each(example_catalog: Catalog) -> None:
    deploy, admin, viewer = (f"arn:aws:iam::123456789012:role/{name}" for name in ("deploy", "sso-admin", "preview"))
    config = _config("dev", deployRoleArn=deploy, adminRoleArns=[admin], viewerRoleArns=[viewer])
    rendered = render_platform(example_catalog, config)
    entries = {r.plain["principalArn"] for r in rendered.of_type(ACCESS_ENTRY)}
    assert entries == {deploy, admin, viewer}
    policies = {r.plain["principalArn"]: r.plain["policyArn"] for r in rendered.of_type(ACCESS_POLICY)}
    assert policies == {deploy: CLUSTER_ADMIN_POLICY, admin: CLUSTER_ADMIN_POLICY, viewer: CLUSTER_VIEW_POLICY}


def test_listing_the_deploy_role_among_the_admins_fails_at_config_time_with_the_fix() -> None:
    deploy = "arn:aws:iam::123456789012:role/mlplat-deploy-prod"
    with pytest.raises(StackConfigError, match=r"adminRoleArns lists the deploy role .*remove it from adminRoleArns"):
        _config("prod", deployRoleArn=deploy, adminRoleArns=[deploy])
    with pytest.raises(StackConfigError, match="lists a role twice"):
        _config("prod", adminRoleArns=[deploy, deploy])
    with pytest.raises(StackConfigError, match="not an IAM role ARN"):
        _config("prod", adminRoleArns=["arn:aws:sts::123456789012:assumed-role/x/y"])


def test_listing_the_role_running_the_update_among_the_admins_fails_before_any_entry(example_catalog: Catalog) -> None:
    config = _config("dev", adminRoleArns=[DEPLOY_ROLE_ARN])
    with pytest.raises(AccessEntryConflictError, match="remove it from adminRoleArns"):
        render_platform(example_catalog, config)
