"""Physical names and tags: the public contract of what the platform creates in an account.

Names are derived only from the environment, the purpose and (for spec-driven resources)
the spec's name, so a reader can tell what a resource is from its name alone and the same
stack always produces the same names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlplat.name_limits import NAME_LIMITS
from mlplat.spec.types import kubernetes_name

PROJECT = "mlplat"
#: Kubernetes namespace the platform's services run in.
SERVICES_NAMESPACE = "mlplat"
MANAGED_BY = "mlplat"


def physical_name(environment: str, *parts: str) -> str:
    """``mlplat-<environment>-<parts...>`` with ``_`` turned into ``-`` (``default_risk`` -> ``default-risk``)."""
    return "-".join([PROJECT, environment, *(kubernetes_name(part) for part in parts)])


def bucket_name(environment: str, purpose: str, account_id: str, region: str) -> str:
    """A globally unique bucket name: the account and region make it unique across AWS."""
    name = f"{physical_name(environment, purpose)}-{account_id}-{region}"
    limit = NAME_LIMITS["aws:s3/bucket:Bucket"].limit
    if len(name) > limit:
        raise ValueError(
            f"bucket name {name!r} is {len(name)} characters; S3 allows {limit}, shorten the purpose {purpose!r}"
        )
    return name


#: The node label each managed node group sets, and its two pools: ``system`` runs the
#: cluster add-ons and the feature server, ``serving`` the model servers.
NODE_POOL_LABEL = "mlplat.io/pool"
SYSTEM_POOL = "system"
SERVING_POOL = "serving"

#: The services' images; each has an ECR repository ``mlplat-<stack>-<image>``.
FEATURE_SERVER_IMAGE = "feature-server"
MODEL_SERVER_IMAGE = "model-server"

#: The Kubernetes service account the feature server runs as.
FEATURE_SERVER_SERVICE_ACCOUNT = "feature-server"


def model_service_account(model: str) -> str:
    """The Kubernetes service account a model's server runs as (``model-default-risk``)."""
    return f"model-{kubernetes_name(model)}"


def platform_tags(environment: str) -> dict[str, str]:
    """Tags on every taggable resource of a stack."""
    return {"environment": environment, "managed-by": MANAGED_BY, "project": PROJECT}


def spec_tags(base: dict[str, str], kind: str, name: str, owner: str | None) -> dict[str, str]:
    """Tags of a resource that exists because of one spec object; ``owner`` when the spec has one."""
    tags = {**base, "mlplat-spec": f"{kind}/{name}"}
    if owner:
        tags["owner"] = owner
    return tags


# --- what AWS accepts as a name -------------------------------------------------------------
#
# A name is written three ways: fixed (``name=``), a prefix the provider completes
# (``name_prefix=``: the prefix plus a 26-character unique suffix, terraform-plugin-sdk's
# ``id.UniqueIDSuffixLength``), or left out so Pulumi auto-names the resource (its logical
# name, ``-`` and 7 random characters). Prefixes and auto-names let a replacement be created
# before the resource it replaces is deleted; both count against the AWS limit.

PREFIX_SUFFIX_LENGTH = 26
AUTONAME_SUFFIX_LENGTH = 8


@dataclass(frozen=True)
class NameRule:
    """What one AWS API accepts as a resource's name."""

    prop: str
    """The input holding the name (camelCase, as the engine sees it)."""
    max_length: int
    pattern: str
    """The characters and shape AWS accepts, matched against the whole name."""
    doc: str
    """The AWS page stating the rule."""
    prefix_prop: str | None = None
    """The input holding a prefix the provider completes, if the resource takes one."""
    autonamed: bool = False
    """Whether Pulumi names the resource when no name is given."""
    min_length: int = 1


_LOWER_DASHED = r"[a-z][a-z0-9]*(-[a-z0-9]+)*"
_IAM = r"[\w+=,.@-]+"

#: Name rules by resource type; ``doc`` is where AWS states each one.
NAME_RULES: dict[str, NameRule] = {
    "aws:eks/cluster:Cluster": NameRule(
        "name",
        100,
        r"[0-9A-Za-z][A-Za-z0-9_-]*",
        "https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateCluster.html",
    ),
    "aws:eks/nodeGroup:NodeGroup": NameRule(
        "nodeGroupName",
        63,
        r"[0-9A-Za-z][A-Za-z0-9_-]*",
        "https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateNodegroup.html",
        prefix_prop="nodeGroupNamePrefix",
    ),
    "aws:ec2/launchTemplate:LaunchTemplate": NameRule(
        "name",
        128,
        r"[a-zA-Z0-9().\-/_]+",
        "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateLaunchTemplate.html",
        prefix_prop="namePrefix",
        autonamed=True,
        min_length=3,
    ),
    "aws:ec2/securityGroup:SecurityGroup": NameRule(
        "name",
        255,
        r"[a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]+",
        "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSecurityGroup.html",
        prefix_prop="namePrefix",
        autonamed=True,
    ),
    "aws:rds/instance:Instance": NameRule(
        "identifier",
        63,
        _LOWER_DASHED,
        "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstance.html",
        prefix_prop="identifierPrefix",
    ),
    "aws:rds/parameterGroup:ParameterGroup": NameRule(
        "name",
        255,
        _LOWER_DASHED,
        "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBParameterGroup.html",
        prefix_prop="namePrefix",
    ),
    "aws:rds/subnetGroup:SubnetGroup": NameRule(
        "name",
        255,
        r"[a-z0-9 ._-]+",
        "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBSubnetGroup.html",
        prefix_prop="namePrefix",
    ),
    "aws:elasticache/replicationGroup:ReplicationGroup": NameRule(
        "replicationGroupId",
        40,
        _LOWER_DASHED,
        "https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_CreateReplicationGroup.html",
    ),
    "aws:elasticache/subnetGroup:SubnetGroup": NameRule(
        "name",
        255,
        r"[a-z0-9-]+",
        "https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_CreateCacheSubnetGroup.html",
        autonamed=True,
    ),
    "aws:secretsmanager/secret:Secret": NameRule(
        "name",
        512,
        r"[A-Za-z0-9/_+=.@-]+",
        "https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html",
        prefix_prop="namePrefix",
        autonamed=True,
    ),
    "aws:iam/role:Role": NameRule(
        "name",
        64,
        _IAM,
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html",
        prefix_prop="namePrefix",
        autonamed=True,
    ),
    "aws:iam/rolePolicy:RolePolicy": NameRule(
        "name",
        128,
        _IAM,
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html",
        prefix_prop="namePrefix",
        autonamed=True,
    ),
    "aws:kinesis/stream:Stream": NameRule(
        "name", 128, r"[a-zA-Z0-9_.-]+", "https://docs.aws.amazon.com/kinesis/latest/APIReference/API_CreateStream.html"
    ),
    "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream": NameRule(
        "name",
        64,
        r"[a-zA-Z0-9_.-]+",
        "https://docs.aws.amazon.com/firehose/latest/APIReference/API_CreateDeliveryStream.html",
    ),
    "aws:sns/topic:Topic": NameRule(
        "name",
        256,
        r"[A-Za-z0-9_-]+",
        "https://docs.aws.amazon.com/sns/latest/api/API_CreateTopic.html",
        prefix_prop="namePrefix",
        autonamed=True,
    ),
    "aws:kms/alias:Alias": NameRule(
        "name",
        256,
        r"alias/(?!aws/)[a-zA-Z0-9/_-]+",
        "https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html",
        prefix_prop="namePrefix",
    ),
    "aws:cloudwatch/logGroup:LogGroup": NameRule(
        "name",
        512,
        r"[.\-_/#A-Za-z0-9]+",
        "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html",
        prefix_prop="namePrefix",
        autonamed=True,
    ),
    "aws:cloudwatch/metricAlarm:MetricAlarm": NameRule(
        "name",
        255,
        r"[ -~]+",
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html",
    ),
    "aws:emrserverless/application:Application": NameRule(
        "name",
        64,
        r"[A-Za-z0-9._/#-]+",
        "https://docs.aws.amazon.com/emr-serverless/latest/APIReference/API_CreateApplication.html",
    ),
    "aws:scheduler/schedule:Schedule": NameRule(
        "name",
        64,
        r"[0-9a-zA-Z_.-]+",
        "https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html",
        prefix_prop="namePrefix",
    ),
    "aws:scheduler/scheduleGroup:ScheduleGroup": NameRule(
        "name",
        64,
        r"[0-9a-zA-Z_.-]+",
        "https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateScheduleGroup.html",
        prefix_prop="namePrefix",
    ),
    "aws:ecr/repository:Repository": NameRule(
        "name",
        256,
        r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*",
        "https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_CreateRepository.html",
        min_length=2,
    ),
    "aws:s3/bucket:Bucket": NameRule(
        "bucket",
        63,
        r"[a-z0-9][a-z0-9.-]*[a-z0-9]",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html",
        prefix_prop="bucketPrefix",
        min_length=3,
    ),
}

#: Identifiers of final snapshots follow the same rule as the resource's own identifier
#: (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBInstance.html).
SNAPSHOT_RULES: dict[str, NameRule] = {
    "aws:rds/instance:Instance": NameRule(
        "finalSnapshotIdentifier",
        255,
        _LOWER_DASHED,
        "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBInstance.html",
    ),
    "aws:elasticache/replicationGroup:ReplicationGroup": NameRule(
        "finalSnapshotIdentifier",
        255,
        r"[a-z][a-z0-9-]*",
        "https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_DeleteReplicationGroup.html",
    ),
}


def physical_name_of(rule: NameRule, logical_name: str, inputs: Mapping[str, Any]) -> str | None:
    """The name AWS will see, with generated suffixes stood in by as many ``0``/``a`` characters.

    ``None`` when nothing names the resource (AWS assigns an id) or the name is not yet known.
    """
    name = inputs.get(rule.prop)
    if isinstance(name, str):
        return name
    prefix = inputs.get(rule.prefix_prop) if rule.prefix_prop else None
    if isinstance(prefix, str):
        return prefix + "0" * PREFIX_SUFFIX_LENGTH
    if rule.autonamed:
        return f"{logical_name}-" + "a" * (AUTONAME_SUFFIX_LENGTH - 1)
    return None


def name_problems(rule: NameRule, name: str) -> list[str]:
    """Why AWS would refuse ``name`` under ``rule`` (empty: it accepts it)."""
    problems = []
    if not rule.min_length <= len(name) <= rule.max_length:
        problems.append(
            f"{name!r} is {len(name)} characters; AWS allows {rule.min_length}-{rule.max_length} ({rule.doc})"
        )
    if re.fullmatch(rule.pattern, name) is None:
        problems.append(f"{name!r} does not match {rule.pattern!r} ({rule.doc})")
    return problems


def resource_name_problems(resource_type: str, logical_name: str, inputs: Mapping[str, Any]) -> list[str]:
    """Every name of a resource (its own, its final snapshot's) that AWS would refuse."""
    problems = []
    for rules in (NAME_RULES, SNAPSHOT_RULES):
        rule = rules.get(resource_type)
        name = physical_name_of(rule, logical_name, inputs) if rule else None
        if rule and name is not None:
            problems += [f"{resource_type} {logical_name!r} {rule.prop}: {p}" for p in name_problems(rule, name)]
    return problems


def name_prefix(resource_type: str, base: str) -> str:
    """``<base>-`` for a ``name_prefix`` input; :class:`ValueError` if the completed name would not fit."""
    rule = NAME_RULES[resource_type]
    prefix = f"{base}-"
    problems = name_problems(rule, prefix + "0" * PREFIX_SUFFIX_LENGTH)
    if problems:
        raise ValueError(f"{resource_type} name prefix {prefix!r}: " + "; ".join(problems))
    return prefix


# --- descriptions and tags ------------------------------------------------------------------

#: Security group descriptions: up to 255 of these characters
#: (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSecurityGroup.html).
SECURITY_GROUP_DESCRIPTION = r"[a-zA-Z0-9. _\-:/()#,@\[\]+=&;{}!$*]{0,255}"
#: Descriptions of security group rules: the same without ``&``
#: (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_IpRange.html).
SECURITY_GROUP_RULE_DESCRIPTION = r"[a-zA-Z0-9. _\-:/()#,@\[\]+=;{}!$*]{0,255}"
#: Tags: keys of 1-128 and values of 0-256 Unicode letters, digits, spaces and ``_ . : / = + - @``;
#: keys never start with ``aws:`` (https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html).
TAG_KEY_LENGTH, TAG_VALUE_LENGTH = 128, 256
_TAG_PUNCTUATION = set("_.:/=+-@")


def _tag_text(text: str) -> bool:
    return all(c.isalnum() or c.isspace() or c in _TAG_PUNCTUATION for c in text)


def tag_problems(tags: Mapping[str, str]) -> list[str]:
    """Why AWS would refuse any of ``tags`` (empty: it accepts them all)."""
    problems = []
    for key, value in tags.items():
        if not 1 <= len(key) <= TAG_KEY_LENGTH or not _tag_text(key) or key.lower().startswith("aws:"):
            problems.append(f"tag key {key!r}: 1-{TAG_KEY_LENGTH} letters, digits, spaces or _.:/=+-@, not 'aws:...'")
        if len(value) > TAG_VALUE_LENGTH or not _tag_text(value):
            problems.append(f"tag {key}={value!r}: up to {TAG_VALUE_LENGTH} letters, digits, spaces or _.:/=+-@")
    return problems
