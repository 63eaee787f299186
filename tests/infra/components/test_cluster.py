"""The EKS cluster as each stack renders it: what CreateCluster and CreateNodegroup need to succeed."""

from __future__ import annotations

import json

import pytest

from infra.rendering import STACKS, Rendered, stack_config


@pytest.mark.parametrize("stack", STACKS)
def test_the_cluster_role_may_use_the_secrets_key_before_the_cluster_is_created(
    stacks: dict[str, Rendered], stack: str
) -> None:
    rendered = stacks[stack]
    cluster = rendered.one("aws:eks/cluster:Cluster", f"mlplat-{stack}-cluster-eks")
    key = cluster.plain["encryptionConfig"]["provider"]["keyArn"]
    policy = rendered.one("aws:iam/rolePolicy:RolePolicy", f"mlplat-{stack}-cluster-cluster-encrypt-secrets")
    assert policy.plain["role"] == f"mlplat-{stack}-cluster-cluster-role-id"
    (statement,) = json.loads(policy.plain["policy"])["Statement"]
    assert statement["Resource"] == key
    assert set(statement["Action"]) == {"kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"}
    assert policy.name in cluster.depends_on


@pytest.mark.parametrize("stack", STACKS)
def test_node_groups_are_named_by_prefix_and_wait_for_their_role(stacks: dict[str, Rendered], stack: str) -> None:
    for pool in ("system", "serving"):
        group = stacks[stack].one("aws:eks/nodeGroup:NodeGroup", f"mlplat-{stack}-cluster-{pool}")
        assert group.plain["nodeGroupNamePrefix"] == f"mlplat-{stack}-{pool}-"
        assert {f"mlplat-{stack}-cluster-node-policy-{i}" for i in range(3)} <= set(group.depends_on)


@pytest.mark.parametrize("stack", STACKS)
def test_the_observability_add_on_writes_into_groups_made_first_with_the_logs_key_and_a_retention(
    stacks: dict[str, Rendered], stack: str
) -> None:
    rendered = stacks[stack]
    addon = rendered.one("aws:eks/addon:Addon", f"mlplat-{stack}-cluster-amazon-cloudwatch-observability")
    groups = [
        g for g in rendered.of_type("aws:cloudwatch/logGroup:LogGroup") if "/aws/containerinsights/" in g.plain["name"]
    ]
    assert {g.plain["name"] for g in groups} == {
        f"/aws/containerinsights/mlplat-{stack}/{kind}" for kind in ("performance", "application", "dataplane", "host")
    }
    for group in groups:
        assert group.plain["kmsKeyId"].endswith(f"mlplat-{stack}-logs-key-key")
        assert group.plain["retentionInDays"] == stack_config(stack).cluster.log_retention_days
        assert group.name in addon.depends_on
