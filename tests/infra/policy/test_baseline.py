"""The policy pack's rules: pass on every rendered stack, fail naming the resource on a broken one."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy import PolicyResourceOptions, ResourceValidationArgs
from pulumi_policy.proxy import unknown_checking_proxy

from infra.policy.baseline import RULES, controls_covered, violations
from infra.policy.pack import policies
from infra.rendering import Rendered, policy_violations, render, stack_config
from mlplat.catalog import Catalog


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_baseline_passes_on_every_stack(stacks: dict[str, Rendered], stack: str) -> None:
    assert [str(v) for v in policy_violations(stacks[stack])] == []


def test_a_broken_prod_config_fails_naming_each_resource(example_catalog: Catalog) -> None:
    # model_copy skips validation: this is the config StackConfig itself would refuse.
    good = stack_config("prod")
    broken = good.model_copy(
        update={"protect": False, "database": good.database.model_copy(update={"multi_az": False})}
    )
    found = {(v.rule, v.resource_name) for v in policy_violations(render(example_catalog, broken))}
    assert ("rds-baseline", "mlplat-prod-registry-mysql") in found
    assert ("prod-protect", "mlplat-prod-registry-mysql") in found
    assert ("prod-protect", "mlplat-prod-data-key-key") in found
    assert ("eks-baseline", "mlplat-prod-cluster-eks") in found  # deletion protection follows `protect`


SECURE: dict[str, dict[str, Any]] = {
    "aws:kms/key:Key": {"enableKeyRotation": True},
    "aws:ec2/launchTemplate:LaunchTemplate": {"metadataOptions": {"httpTokens": "required"}},
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": {"referencedSecurityGroupId": "sg-1"},
    "aws:sns/topic:Topic": {"kmsMasterKeyId": "arn:key"},
    "aws:kinesis/stream:Stream": {"encryptionType": "KMS"},
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": dict.fromkeys(
        ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"), True
    ),
}
INSECURE: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        {"spec": {"ingress": [{"from": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"a": "b"}}}]}]}},
        "k8s-ingress-by-namespace",
        "every namespace",
    ),
    (
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        {"spec": {"ingress": [{"ports": [{"port": 8080}]}]}},
        "k8s-ingress-by-namespace",
        "every source",
    ),
    (
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        {"spec": {"ingress": [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 8080}]}]}},
        "k8s-ingress-by-namespace",
        "not a private range",
    ),
    (
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        {"spec": {"ingress": [{"from": [{"ipBlock": {"cidr": "10.40.240.0/22"}}]}]}},
        "k8s-ingress-by-namespace",
        "admitted on every port",
    ),
    (
        "kubernetes:apps/v1:Deployment",
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "securityContext": {}}]}}}},
        "k8s-hardened-pods",
        "non-root",
    ),
    ("aws:kms/key:Key", {"enableKeyRotation": False}, "kms-rotation", "KMS.4"),
    ("aws:ec2/launchTemplate:LaunchTemplate", {"metadataOptions": {"httpTokens": "optional"}}, "ec2-imdsv2", "EC2.8"),
    (
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        {"cidrIpv4": "0.0.0.0/0"},
        "vpc-no-world-ingress",
        "EC2.18",
    ),
    ("aws:sns/topic:Topic", {}, "sns-encrypted", "SNS.1"),
    ("aws:kinesis/stream:Stream", {"encryptionType": "NONE"}, "kinesis-encrypted", "Kinesis.1"),
    (
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        {"blockPublicAcls": True},
        "s3-public-access-block",
        "S3.8",
    ),
    ("aws:eks/cluster:Cluster", {"vpcConfig": {"endpointPublicAccess": True}}, "eks-baseline", "EKS.1"),
    (
        "aws:elasticache/replicationGroup:ReplicationGroup",
        {"atRestEncryptionEnabled": True},
        "elasticache-baseline",
        "ElastiCache.5",
    ),
    ("aws:rds/instance:Instance", {"storageEncrypted": True, "publiclyAccessible": True}, "rds-baseline", "RDS.2"),
    ("aws:s3/bucketPolicy:BucketPolicy", {"policy": '{"Statement": []}'}, "s3-tls-only", "S3.5"),
    (
        "aws:rds/parameterGroup:ParameterGroup",
        {"family": "mysql8.0", "parameters": [{"name": "require_secure_transport", "value": "0"}]},
        "rds-tls-required",
        "TLS",
    ),
]


@pytest.mark.parametrize(("type_", "props"), SECURE.items())
def test_secure_settings_pass(type_: str, props: dict[str, Any]) -> None:
    assert violations(type_, "r", props, protect=False) == []


@pytest.mark.parametrize(("type_", "props", "rule", "control"), INSECURE)
def test_insecure_settings_fail_with_the_control_and_the_fix(
    type_: str, props: dict[str, Any], rule: str, control: str
) -> None:
    found = violations(type_, "the-resource", props, protect=False)
    assert rule in {v.rule for v in found}
    assert any(control in v.message for v in found if v.rule == rule), [str(v) for v in found]
    assert all("the-resource" in str(v) for v in found)


def test_the_pack_wraps_every_rule_and_reports_through_pulumi_policy() -> None:
    pack = {policy.name: policy for policy in policies()}
    assert set(pack) == {rule.name for rule in RULES}
    reported: list[tuple[str, str | None]] = []
    args = ResourceValidationArgs(
        resource_type="aws:kms/key:Key",
        props={"enableKeyRotation": False},
        urn="urn:pulumi:prod::mlplat::aws:kms/key:Key::k",
        name="k",
        opts=PolicyResourceOptions(
            protect=True,
            ignore_changes=[],
            delete_before_replace=None,
            aliases=[],
            custom_timeouts=None,  # type: ignore[arg-type]
            additional_secret_outputs=[],
            parent=None,
        ),
        provider=None,
    )
    pack["kms-rotation"].validate(args, lambda message, urn: reported.append((message, urn)))
    pack["rds-baseline"].validate(args, lambda message, urn: reported.append((message, urn)))
    assert reported == [("k: enableKeyRotation is False; rotate the key yearly (KMS.4)", args.urn)]


def test_the_pack_covers_the_fsbp_controls_of_each_service() -> None:
    services = {control.split(".")[0] for control in controls_covered()}
    assert services == {"RDS", "ElastiCache", "S3", "EKS", "EC2", "KMS", "SNS", "Kinesis"}


@pytest.mark.parametrize(("type_", "props", "rule", "control"), INSECURE)
def test_rules_judge_the_analyzers_proxies_as_they_judge_plain_data(
    type_: str, props: dict[str, Any], rule: str, control: str
) -> None:
    # The analyzer hands rules read-only Mapping/Sequence proxies, never dicts and lists.
    proxied = unknown_checking_proxy(props)
    assert not isinstance(proxied, dict)
    assert violations(type_, "r", proxied, protect=False) == violations(type_, "r", props, protect=False)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_rendered_resource_passes_as_proxies_too(stacks: dict[str, Rendered], stack: str) -> None:
    found = [
        str(v)
        for r in stacks[stack].resources
        if r.custom
        for v in violations(r.type, r.name, unknown_checking_proxy(r.plain), protect=r.protect)
    ]
    assert found == []
