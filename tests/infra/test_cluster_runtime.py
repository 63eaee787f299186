"""What the workloads rely on in the running cluster: enforced NetworkPolicies, resource
metrics for the HPAs, node autoscaling within the node groups' bounds, and pods on the
pool they are meant for."""

from __future__ import annotations

import json

import pytest

from infra import iam_policies
from infra.components.cluster import AUTOSCALER_NAMESPACE, AUTOSCALER_SERVICE_ACCOUNT
from infra.config import StackConfigError, parse_stack_config
from infra.naming import NODE_POOL_LABEL
from infra.rendering import STACKS, WORKLOADS_PROJECT, Rendered, stack_config
from infra.workloads.autoscaler import CHART, CHART_REPOSITORY

ADDON = "aws:eks/addon:Addon"
RELEASE = "kubernetes:helm.sh/v3:Release"


@pytest.mark.parametrize("stack", STACKS)
def test_the_vpc_cni_enforces_network_policies(stacks: dict[str, Rendered], stack: str) -> None:
    cni = stacks[stack].one(ADDON, f"mlplat-{stack}-cluster-vpc-cni").plain
    assert json.loads(cni["configurationValues"]) == {"enableNetworkPolicy": "true"}


@pytest.mark.parametrize("stack", STACKS)
def test_metrics_server_runs_for_the_autoscalers(stacks: dict[str, Rendered], stack: str) -> None:
    addon = stacks[stack].one(ADDON, f"mlplat-{stack}-cluster-metrics-server").plain
    assert addon["addonVersion"] == stack_config(stack).cluster.addons.metrics_server
    assert stacks[stack].of_type("kubernetes:autoscaling/v2:HorizontalPodAutoscaler")


@pytest.mark.parametrize("stack", STACKS)
def test_the_cluster_autoscaler_runs_as_the_account_its_scoped_role_is_bound_to(
    stacks: dict[str, Rendered], stack: str
) -> None:
    rendered, config = stacks[stack], stack_config(stack)
    release = rendered.one(RELEASE, f"mlplat-{stack}-cluster-runtime-cluster-autoscaler")
    assert release.project == WORKLOADS_PROJECT
    inputs = release.plain
    assert (inputs["chart"], inputs["repositoryOpts"]["repo"]) == (CHART, CHART_REPOSITORY)
    assert inputs["version"] == config.cluster.autoscaler.chart_version
    assert inputs["namespace"] == AUTOSCALER_NAMESPACE
    values = inputs["values"]
    assert values["autoDiscovery"]["clusterName"] == f"mlplat-{stack}"
    assert values["rbac"]["serviceAccount"]["name"] == AUTOSCALER_SERVICE_ACCOUNT
    assert values["image"]["tag"].startswith(f"v{config.cluster.kubernetes_version}.")
    assert values["nodeSelector"] == {NODE_POOL_LABEL: "system"}
    binding = rendered.one(
        "aws:eks/podIdentityAssociation:PodIdentityAssociation", f"mlplat-{stack}-cluster-autoscaler-pod-identity"
    ).plain
    assert (binding["namespace"], binding["serviceAccount"]) == (AUTOSCALER_NAMESPACE, AUTOSCALER_SERVICE_ACCOUNT)
    assert binding["roleArn"].endswith(f"mlplat-{stack}-cluster-autoscaler-role")
    policy = json.loads(
        rendered.one("aws:iam/rolePolicy:RolePolicy", f"mlplat-{stack}-cluster-autoscaler-policy").plain["policy"]
    )
    assert policy["Statement"] == iam_policies.cluster_autoscaler(f"mlplat-{stack}")


def test_the_autoscaler_may_resize_only_its_own_clusters_groups() -> None:
    writes, reads = iam_policies.cluster_autoscaler("mlplat-prod")
    assert writes["Condition"] == {"StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/mlplat-prod": "owned"}}
    assert all(action.split(":")[1].startswith(("Describe", "Get")) for action in reads["Action"])
    assert not any(action.split(":")[1].startswith(("Describe", "Get")) for action in writes["Action"])


def test_an_autoscaler_release_of_another_kubernetes_minor_is_refused() -> None:
    values = stack_config("dev").model_dump(mode="json", by_alias=True)
    values["cluster"]["autoscaler"]["imageTag"] = "v1.31.0"
    with pytest.raises(StackConfigError, match=r"does not match kubernetesVersion '1\.33'"):
        parse_stack_config(values)


@pytest.mark.parametrize("stack", STACKS)
def test_deployments_leave_the_replica_count_to_their_autoscaler(stacks: dict[str, Rendered], stack: str) -> None:
    rendered = stacks[stack]
    scaled = {
        r.plain["spec"]["scaleTargetRef"]["name"]
        for r in rendered.of_type("kubernetes:autoscaling/v2:HorizontalPodAutoscaler")
    }
    deployments = rendered.of_type("kubernetes:apps/v1:Deployment")
    assert {d.plain["metadata"]["name"] for d in deployments} == scaled
    assert [d.name for d in deployments if "replicas" in d.plain["spec"]] == []


@pytest.mark.parametrize("stack", STACKS)
def test_each_pod_selects_a_pool_a_node_group_labels(stacks: dict[str, Rendered], stack: str) -> None:
    rendered = stacks[stack]
    labels = {
        (key, value)
        for group in rendered.of_type("aws:eks/nodeGroup:NodeGroup")
        for key, value in group.plain["labels"].items()
    }
    pools = {}
    for deployment in rendered.of_type("kubernetes:apps/v1:Deployment"):
        selector = deployment.plain["spec"]["template"]["spec"]["nodeSelector"]
        assert set(selector.items()) <= labels, deployment.name
        pools[deployment.plain["metadata"]["name"]] = selector[NODE_POOL_LABEL]
    assert pools == {"feature-server": "system", "model-default-risk": "serving", "model-fraud": "serving"}
