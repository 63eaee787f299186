"""What AWS and Kubernetes accept as a name, and the names the platform derives from spec names.

One table, :data:`NAME_RULES`, holds every name rule the platform depends on: per resource
type the input holding the name, its length, its characters, where AWS (or Kubernetes)
states the rule, and whether the provider completes a prefix or Pulumi auto-names the
resource. Two layers read it:

* ``mlplat validate`` checks every spec name against every name derived from it
  (:data:`DERIVED_NAMES`, templates of what the program names after a spec object), for
  the longest environment, so a name that validates deploys;
* ``infra/`` completes name prefixes against the same rules (:mod:`infra.naming`), and its
  tests check every name the program renders against them, and that each derived name is
  the name of a rendered resource that the render-time check refuses exactly when
  validate does.

The lower layer owns the table; the program imports it, so the two cannot drift.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from mlplat.spec.types import MAX_NAME_LENGTH, kubernetes_name

#: The environments a stack can be; names are checked against the longest.
ENVIRONMENTS = ("dev", "staging", "prod")

# A name is written three ways: fixed (``name=``), a prefix the provider completes
# (``name_prefix=``: the prefix plus a 26-character unique suffix, terraform-plugin-sdk's
# ``id.UniqueIDSuffixLength``), or left out so Pulumi auto-names the resource (its logical
# name, ``-`` and 7 random characters). Prefixes and auto-names let a replacement be created
# before the resource it replaces is deleted; both count against the AWS limit.

#: Characters the provider appends to a ``name_prefix``.
PREFIX_SUFFIX_LENGTH = 26
#: Characters Pulumi's auto-name appends to the logical name (``-`` and 7 random ones).
AUTONAME_SUFFIX_LENGTH = 8


@dataclass(frozen=True)
class NameRule:
    """What one API accepts as a resource's name."""

    prop: str
    """The input holding the name (camelCase, as the engine sees it; ``metadata.name`` is the
    ``name`` of the ``metadata`` input)."""
    max_length: int
    pattern: str
    """The characters and shape the API accepts, matched against the whole name."""
    doc: str
    """The page stating the rule."""
    prefix_prop: str | None = None
    """The input holding a prefix the provider completes, if the resource takes one."""
    autonamed: bool = False
    """Whether Pulumi names the resource when no name is given."""
    min_length: int = 1


_LOWER_DASHED = r"[a-z][a-z0-9]*(-[a-z0-9]+)*"
_IAM = r"[\w+=,.@-]+"
_DNS_1035_LABEL = r"[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS_1123_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_KUBERNETES_NAMES = "https://kubernetes.io/docs/concepts/overview/working-with-objects/names/"

#: Name rules by Pulumi resource type (and the job run, a name the program passes to EMR
#: Serverless rather than a resource); ``doc`` is where each one is stated.
NAME_RULES: Mapping[str, NameRule] = {
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
        "https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html",
        prefix_prop="namePrefix",
        autonamed=True,
    ),
    "aws:iam/rolePolicy:RolePolicy": NameRule(
        "name",
        128,
        _IAM,
        "https://docs.aws.amazon.com/IAM/latest/APIReference/API_PutRolePolicy.html",
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
    "aws:amp/ruleGroupNamespace:RuleGroupNamespace": NameRule(
        "name",
        64,
        r"[0-9A-Za-z][-.0-9A-Z_a-z]*",
        "https://docs.aws.amazon.com/prometheus/latest/APIReference/API_CreateRuleGroupsNamespace.html",
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
    # Lowercase letters, digits, dots and hyphens, a letter or digit at each end; and none of:
    # two adjacent dots, an IP address, the prefixes xn-- sthree- amzn-s3-demo-, the suffixes
    # -s3alias --ol-s3 .mrap --x-s3 --table-s3 (reserved for access points and other bucket kinds).
    "aws:s3/bucket:Bucket": NameRule(
        "bucket",
        63,
        r"(?!xn--|sthree-|amzn-s3-demo-)(?!\d+\.\d+\.\d+\.\d+$)(?!.*\.\.)[a-z0-9][a-z0-9.-]*[a-z0-9]"
        r"(?<!-s3alias)(?<!--ol-s3)(?<!\.mrap)(?<!--x-s3)(?<!--table-s3)",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html",
        prefix_prop="bucketPrefix",
        min_length=3,
    ),
    # The name of a job run (StartJobRun's ``name``), not of a resource the program declares.
    "emr-serverless:job-run": NameRule(
        "name",
        256,
        r".*\S.*",
        "https://docs.aws.amazon.com/emr-serverless/latest/APIReference/API_StartJobRun.html",
    ),
    # A Service's name is a DNS-1035 label; a model's Service, Deployment and the label value
    # selecting its pods carry one name, and a label value (63 characters, alphanumerics and
    # ``-_.``: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/) is
    # no stricter.
    "kubernetes:core/v1:Service": NameRule("metadata.name", 63, _DNS_1035_LABEL, _KUBERNETES_NAMES),
    "kubernetes:apps/v1:Deployment": NameRule(
        "metadata.name",
        253,
        _DNS_1123_SUBDOMAIN,
        "https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#writing-a-deployment-spec",
    ),
    "kubernetes:core/v1:ConfigMap": NameRule("metadata.name", 253, _DNS_1123_SUBDOMAIN, _KUBERNETES_NAMES),
}

#: Identifiers of final snapshots follow the same rule as the resource's own identifier
#: (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBInstance.html).
SNAPSHOT_RULES: Mapping[str, NameRule] = {
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


def name_problems(rule: NameRule, name: str) -> list[str]:
    """Why the API would refuse ``name`` under ``rule`` (empty: it accepts it)."""
    problems = []
    if not rule.min_length <= len(name) <= rule.max_length:
        problems.append(
            f"{name!r} is {len(name)} characters; the API allows {rule.min_length}-{rule.max_length} ({rule.doc})"
        )
    if re.fullmatch(rule.pattern, name) is None:
        problems.append(f"{name!r} does not match {rule.pattern!r} ({rule.doc})")
    return problems


@dataclass(frozen=True)
class DerivedName:
    """A name built from a spec object's name: its template, and the limit it must fit."""

    kind: str
    what: str
    template: str
    """``{environment}`` and ``{name}`` (the spec name, ``_`` turned into ``-``) are filled in."""
    resource_type: str
    """Key of :data:`NAME_RULES`: the rule the name must follow."""
    autonamed: bool = False
    """Whether Pulumi appends a random suffix (the template is the logical name)."""
    content_suffix: int = 0
    """Characters the program appends for the object's content (``-`` and a hash), if any."""

    def render(self, environment: str, name: str) -> str:
        return self.template.format(environment=environment, name=kubernetes_name(name))

    def length(self, environment: str, name: str) -> int:
        suffix = AUTONAME_SUFFIX_LENGTH if self.autonamed else self.content_suffix
        return len(self.render(environment, name)) + suffix

    @property
    def rule(self) -> NameRule:
        return NAME_RULES[self.resource_type]

    @property
    def limit(self) -> int:
        return self.rule.max_length


DERIVED_NAMES: tuple[DerivedName, ...] = (
    DerivedName(
        "Model", "model server's IAM role", "mlplat-{environment}-model-{name}-role", "aws:iam/role:Role", True
    ),
    DerivedName(
        "Model",
        "model server's artifact grant",
        "mlplat-{environment}-model-{name}-read-artifacts",
        "aws:iam/rolePolicy:RolePolicy",
        True,
    ),
    DerivedName("Model", "Kubernetes Deployment, Service and label", "model-{name}", "kubernetes:core/v1:Service"),
    # Content-named: infra.workloads.manifests.catalog_config_map_name appends "-" and 10 hex digits.
    DerivedName(
        "Model", "catalog ConfigMap", "model-{name}-catalog", "kubernetes:core/v1:ConfigMap", content_suffix=11
    ),
    DerivedName(
        "FeatureView",
        "materialization schedule",
        "mlplat-{environment}-materialize-{name}",
        "aws:scheduler/schedule:Schedule",
    ),
    DerivedName("FeatureView", "materialization job run", "materialize-{name}", "emr-serverless:job-run"),
    DerivedName("Model", "monitoring job's IAM role", "mlplat-{environment}-monitor-{name}", "aws:iam/role:Role", True),
    DerivedName(
        "Model", "monitoring schedule", "mlplat-{environment}-monitor-{name}", "aws:scheduler/schedule:Schedule"
    ),
    DerivedName("Model", "monitoring job run", "monitor-{name}", "emr-serverless:job-run"),
)


def derived(what: str) -> DerivedName:
    """The derived name called ``what`` (``"materialization schedule"``)."""
    return next(name for name in DERIVED_NAMES if name.what == what)


def job_run_name(what: str, name: str) -> str:
    """The EMR Serverless job-run name of spec object ``name``'s job (``what``: ``"materialization job run"``)."""
    template = derived(what)
    if template.resource_type != "emr-serverless:job-run":
        raise ValueError(f"{what!r} is not a job run's name")
    return template.render("", name)


def too_long(kind: str, name: str) -> list[tuple[DerivedName, str, int]]:
    """Each derived name of ``kind``/``name`` that exceeds its limit in the longest environment."""
    environment = max(ENVIRONMENTS, key=len)
    return [
        (derived_name, derived_name.render(environment, name), derived_name.length(environment, name))
        for derived_name in DERIVED_NAMES
        if derived_name.kind == kind and derived_name.length(environment, name) > derived_name.limit
    ]


def longest_name(kind: str) -> int:
    """The longest spec name of ``kind`` every derived name fits (in every environment)."""
    environment = max(ENVIRONMENTS, key=len)
    slack = [d.limit - d.length(environment, "") for d in DERIVED_NAMES if d.kind == kind]
    return min(slack, default=10**6)


def name_limit(kind: str) -> tuple[int, DerivedName | None]:
    """The longest name of ``kind`` a deploy accepts, and the derived name that sets it.

    ``None`` when the spec language's own limit (:data:`MAX_NAME_LENGTH`) is the tighter one.
    """
    environment = max(ENVIRONMENTS, key=len)
    derived_names = [d for d in DERIVED_NAMES if d.kind == kind]
    if longest_name(kind) >= MAX_NAME_LENGTH or not derived_names:
        return MAX_NAME_LENGTH, None
    return longest_name(kind), min(derived_names, key=lambda d: d.limit - d.length(environment, ""))
