"""The security baseline as pure checks: (resource type, properties, protect) -> violations.

The policy pack (``__main__.py`` beside this file) wraps each :class:`Rule` in a
mandatory ``ResourceValidationPolicy``; the infra tests run the very same rules on the
resources the Pulumi mocks capture, directly and through the analyzer's gRPC interface.
Properties use the engine's camelCase names, as both the policy pack and the mocks see
them. Each rule names the AWS Foundational Security Best Practices (FSBP) controls it covers.

Under the analyzer, properties are not dicts and lists but read-only ``Mapping`` and
``Sequence`` proxies (they raise on values unknown during a preview), which never equal a
``dict`` or a ``list``. Rules therefore read properties only through the ``Mapping`` and
``Sequence`` protocols (``get``, ``in``, iteration, :func:`_items`), never compare whole
containers, and never concatenate them.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Props = Mapping[str, Any]
WORLD = ("0.0.0.0/0", "::/0")
PRODUCTION = "prod"


@dataclass(frozen=True)
class Context:
    """What a check may know beyond the properties."""

    protect: bool
    """Whether the resource has Pulumi ``protect``."""

    @staticmethod
    def environment(props: Props) -> str | None:
        tags = props.get("tags") or {}
        return tags.get("environment") if isinstance(tags, Mapping) else None


Check = Callable[[Props, Context], list[str]]


@dataclass(frozen=True)
class Rule:
    """One policy of the pack."""

    name: str
    description: str
    resource_types: frozenset[str]
    check: Check
    controls: tuple[str, ...] = ()


@dataclass(frozen=True)
class Violation:
    """A rule a resource breaks, and how."""

    rule: str
    resource_type: str
    resource_name: str
    message: str

    def __str__(self) -> str:
        return f"{self.resource_type} {self.resource_name!r}: [{self.rule}] {self.message}"


def _items(value: Any) -> list[Any]:
    """The elements of a list property (a ``list`` or the analyzer's ``Sequence`` proxy); ``[]`` if absent."""
    if value is None or isinstance(value, str | bytes) or not isinstance(value, Sequence):
        return []
    return list(value)


def _require(props: Props, expectations: Iterable[tuple[str, Any, str]]) -> list[str]:
    """Messages for each ``(property, expected value, fix)`` whose property is not the expected value."""
    return [
        f"{prop} is {props.get(prop)!r}; {fix}" for prop, expected, fix in expectations if props.get(prop) != expected
    ]


def _is_production(props: Props) -> bool:
    return Context.environment(props) == PRODUCTION


# --- RDS ------------------------------------------------------------------------------


def _rds(props: Props, context: Context) -> list[str]:
    problems = _require(
        props,
        [
            ("storageEncrypted", True, "set storage_encrypted=True (RDS.3)"),
            ("publiclyAccessible", False, "set publicly_accessible=False (RDS.2)"),
            ("iamDatabaseAuthenticationEnabled", True, "set iam_database_authentication_enabled=True (RDS.10)"),
            ("autoMinorVersionUpgrade", True, "set auto_minor_version_upgrade=True (RDS.13)"),
            ("copyTagsToSnapshot", True, "set copy_tags_to_snapshot=True (RDS.17)"),
        ],
    )
    if not props.get("kmsKeyId"):
        problems.append("kmsKeyId is empty; encrypt with the platform's customer-managed key")
    if (props.get("backupRetentionPeriod") or 0) < 1:
        problems.append("backupRetentionPeriod is below 1 day; keep automated backups (RDS.11)")
    if not props.get("enabledCloudwatchLogsExports"):
        problems.append("no log exports; export error, general and slowquery logs (RDS.9)")
    if (props.get("monitoringInterval") or 0) == 0:
        problems.append("enhanced monitoring is off; set monitoring_interval (RDS.6)")
    if _is_production(props):
        problems += _require(
            props,
            [
                ("multiAz", True, "prod databases must be multi-AZ (RDS.5)"),
                ("deletionProtection", True, "prod databases need deletion protection (RDS.8)"),
                ("skipFinalSnapshot", False, "prod databases keep a final snapshot"),
            ],
        )
    return problems


# --- ElastiCache ------------------------------------------------------------------------


def _elasticache(props: Props, context: Context) -> list[str]:
    problems = _require(
        props,
        [
            ("atRestEncryptionEnabled", True, "set at_rest_encryption_enabled=True (ElastiCache.4)"),
            ("transitEncryptionEnabled", True, "set transit_encryption_enabled=True (ElastiCache.5)"),
            ("autoMinorVersionUpgrade", True, "set auto_minor_version_upgrade=True (ElastiCache.2)"),
        ],
    )
    if not props.get("authToken"):
        problems.append("no AUTH token; generate one and keep it in Secrets Manager (ElastiCache.6)")
    if _is_production(props):
        problems += _require(
            props,
            [
                ("automaticFailoverEnabled", True, "prod caches fail over automatically (ElastiCache.3)"),
                ("multiAzEnabled", True, "prod caches span zones"),
            ],
        )
        if (props.get("snapshotRetentionLimit") or 0) < 1:
            problems.append("snapshotRetentionLimit is 0; keep daily snapshots in prod (ElastiCache.1)")
    return problems


# --- S3 ----------------------------------------------------------------------------------


def _public_access_block(props: Props, context: Context) -> list[str]:
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    return _require(props, [(flag, True, "block every kind of public access (S3.8)") for flag in flags])


def _bucket_encryption(props: Props, context: Context) -> list[str]:
    rules = _items(props.get("rules"))
    algorithms = [(r.get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm") for r in rules]
    if not algorithms or any(a not in ("aws:kms", "aws:kms:dsse", "AES256") for a in algorithms):
        return [f"default encryption is {algorithms}; encrypt at rest, with SSE-KMS for data (S3.4, S3.17)"]
    return []


def _rds_parameters(props: Props, context: Context) -> list[str]:
    if not str(props.get("family", "")).startswith("mysql"):
        return []
    values = {p.get("name"): str(p.get("value")) for p in _items(props.get("parameters"))}
    if values.get("require_secure_transport") not in ("1", "ON"):
        return ["require_secure_transport is not 1; clients must connect over TLS"]
    return []


def _bucket_policy(props: Props, context: Context) -> list[str]:
    try:
        policy = json.loads(props.get("policy") or "{}")
    except (TypeError, ValueError):
        return []  # not yet known (preview of a new bucket)
    statements = policy.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        condition = statement.get("Condition", {}).get("Bool", {})
        if statement.get("Effect") == "Deny" and condition.get("aws:SecureTransport") == "false":
            return []
    return ["the bucket policy does not deny requests without TLS (S3.5)"]


def _bucket(props: Props, context: Context) -> list[str]:
    if props.get("acl") in ("public-read", "public-read-write", "authenticated-read"):
        return [f"acl is {props.get('acl')!r}; buckets are private (S3.2, S3.3)"]
    return []


# --- EKS / EC2 / VPC ---------------------------------------------------------------------


def _eks(props: Props, context: Context) -> list[str]:
    problems = []
    encryption = props.get("encryptionConfig") or {}
    if "secrets" not in _items(encryption.get("resources")) or not (encryption.get("provider") or {}).get("keyArn"):
        problems.append("Kubernetes secrets are not envelope-encrypted with a KMS key (EKS.3)")
    vpc = props.get("vpcConfig") or {}
    if vpc.get("endpointPublicAccess") is not False:
        cidrs = _items(vpc.get("publicAccessCidrs"))
        if not cidrs or any(c in WORLD for c in cidrs):
            problems.append("the API endpoint is open to the internet; turn public access off or list CIDRs (EKS.1)")
    if "audit" not in _items(props.get("enabledClusterLogTypes")):
        problems.append("audit logs are off; enable control-plane logs including audit (EKS.8)")
    if _is_production(props) and props.get("deletionProtection") is not True:
        problems.append("prod clusters need deletion protection")
    return problems


def _launch_template(props: Props, context: Context) -> list[str]:
    metadata = props.get("metadataOptions") or {}
    if metadata.get("httpTokens") != "required":
        return ["instance metadata allows IMDSv1; set metadata_options.http_tokens='required' (EC2.8, EC2.170)"]
    return []


def _ingress_rule(props: Props, context: Context) -> list[str]:
    if props.get("cidrIpv4") in WORLD or props.get("cidrIpv6") in WORLD:
        return ["ingress from anywhere; admit a security group or a private range instead (EC2.18, EC2.19)"]
    return []


def _security_group(props: Props, context: Context) -> list[str]:
    for rule in _items(props.get("ingress")):
        if any(c in WORLD for c in [*_items(rule.get("cidrBlocks")), *_items(rule.get("ipv6CidrBlocks"))]):
            return ["inline ingress from anywhere (EC2.18, EC2.19)"]
    return []


def _default_security_group(props: Props, context: Context) -> list[str]:
    if props.get("ingress") or props.get("egress"):
        return ["the VPC's default security group must have no rules (EC2.2)"]
    return []


def _subnet(props: Props, context: Context) -> list[str]:
    return _require(props, [("mapPublicIpOnLaunch", False, "do not assign public IPs on launch (EC2.15)")])


# --- KMS, SNS, Kinesis, logs, secrets ------------------------------------------------------


def _kms(props: Props, context: Context) -> list[str]:
    return _require(props, [("enableKeyRotation", True, "rotate the key yearly (KMS.4)")])


def _needs_key(prop: str, fix: str) -> Check:
    def check(props: Props, context: Context) -> list[str]:
        return [] if props.get(prop) else [f"{prop} is empty; {fix}"]

    return check


def _kinesis(props: Props, context: Context) -> list[str]:
    return _require(props, [("encryptionType", "KMS", "encrypt the stream with KMS (Kinesis.1)")])


# --- Kubernetes workloads --------------------------------------------------------------


def _hardened_pod(props: Props, context: Context) -> list[str]:
    pod = ((props.get("spec") or {}).get("template") or {}).get("spec") or {}
    problems = []
    if (pod.get("securityContext") or {}).get("runAsNonRoot") is not True:
        problems.append("pod securityContext.runAsNonRoot is not true; run as a non-root user (EKS.pod-security)")
    for container in _items(pod.get("containers")):
        name = container.get("name", "?")
        security = container.get("securityContext") or {}
        expectations = [
            ("readOnlyRootFilesystem", True, "mount a read-only root filesystem"),
            ("allowPrivilegeEscalation", False, "forbid privilege escalation"),
        ]
        problems += [f"container {name!r}: {message}" for message in _require(security, expectations)]
        if _items((security.get("capabilities") or {}).get("drop")) != ["ALL"]:
            problems.append(f"container {name!r}: capabilities.drop is not ['ALL']; drop every capability")
        if not (container.get("resources") or {}).get("limits"):
            problems.append(f"container {name!r}: no resource limits; set requests and limits")
    return problems


def _ingress_by_namespace(props: Props, context: Context) -> list[str]:
    problems = []
    for i, rule in enumerate((props.get("spec") or {}).get("ingress") or []):
        peers = rule.get("from")
        if not peers:
            problems.append(f"ingress[{i}] admits every source; name the callers' namespaces and pods")
        for j, peer in enumerate(peers or []):
            namespaces = peer.get("namespaceSelector")
            if namespaces is not None and not (namespaces.get("matchLabels") or namespaces.get("matchExpressions")):
                problems.append(
                    f"ingress[{i}].from[{j}] admits every namespace; select the caller's by kubernetes.io/metadata.name"
                )
            if "ipBlock" in peer:
                problems += _ip_block_problems(f"ingress[{i}].from[{j}]", peer["ipBlock"], rule.get("ports"))
    return problems


def _ip_block_problems(where: str, block: Mapping[str, Any], ports: Any) -> list[str]:
    """An address block admits something outside the cluster: a private range, on named ports only."""
    problems = []
    cidr = str(block.get("cidr", ""))
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return [f"{where}.ipBlock.cidr {cidr!r} is no CIDR; a resolved platform output is expected here"]
    if not network.is_private:
        problems.append(f"{where}.ipBlock {cidr} is not a private range; admit subnets of the VPC only")
    if not ports:
        problems.append(f"{where}.ipBlock {cidr} is admitted on every port; list the ports it needs")
    return problems


# --- protection in prod -----------------------------------------------------------------------


def _protected_in_prod(props: Props, context: Context) -> list[str]:
    if _is_production(props) and not context.protect:
        return ["stateful prod resources need Pulumi protect=True so `pulumi destroy` cannot delete them"]
    return []


STATEFUL = frozenset(
    {
        "aws:rds/instance:Instance",
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "aws:s3/bucket:Bucket",
        "aws:kms/key:Key",
        "aws:eks/cluster:Cluster",
    }
)

RULES: tuple[Rule, ...] = (
    Rule(
        "rds-baseline",
        "RDS: encrypted, private, backed up, logged; HA and protected in prod",
        frozenset({"aws:rds/instance:Instance"}),
        _rds,
        ("RDS.2", "RDS.3", "RDS.5", "RDS.6", "RDS.8", "RDS.9", "RDS.10", "RDS.11", "RDS.13", "RDS.17"),
    ),
    Rule(
        "rds-tls-required",
        "RDS: MySQL parameter groups require TLS",
        frozenset({"aws:rds/parameterGroup:ParameterGroup"}),
        _rds_parameters,
    ),
    Rule(
        "elasticache-baseline",
        "ElastiCache: encrypted at rest and in transit, AUTH, HA in prod",
        frozenset({"aws:elasticache/replicationGroup:ReplicationGroup"}),
        _elasticache,
        ("ElastiCache.1", "ElastiCache.2", "ElastiCache.3", "ElastiCache.4", "ElastiCache.5", "ElastiCache.6"),
    ),
    Rule(
        "s3-public-access-block",
        "S3: every kind of public access blocked",
        frozenset({"aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"}),
        _public_access_block,
        ("S3.8",),
    ),
    Rule(
        "s3-encrypted",
        "S3: default encryption at rest (SSE-KMS for data; SSE-S3 only for the access-log target)",
        frozenset({"aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"}),
        _bucket_encryption,
        ("S3.4", "S3.17"),
    ),
    Rule(
        "s3-tls-only",
        "S3: requests without TLS denied",
        frozenset({"aws:s3/bucketPolicy:BucketPolicy"}),
        _bucket_policy,
        ("S3.5",),
    ),
    Rule("s3-private-acl", "S3: no public ACL", frozenset({"aws:s3/bucket:Bucket"}), _bucket, ("S3.2", "S3.3")),
    Rule(
        "eks-baseline",
        "EKS: secrets encrypted, private endpoint, audit logs, protected in prod",
        frozenset({"aws:eks/cluster:Cluster"}),
        _eks,
        ("EKS.1", "EKS.3", "EKS.8"),
    ),
    Rule(
        "ec2-imdsv2",
        "EC2: IMDSv2 required on launch templates",
        frozenset({"aws:ec2/launchTemplate:LaunchTemplate"}),
        _launch_template,
        ("EC2.8", "EC2.170"),
    ),
    Rule(
        "vpc-no-world-ingress",
        "VPC: no ingress from 0.0.0.0/0 or ::/0",
        frozenset({"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"}),
        _ingress_rule,
        ("EC2.18", "EC2.19"),
    ),
    Rule(
        "ec2-no-world-ingress",
        "EC2: no inline ingress from anywhere",
        frozenset({"aws:ec2/securityGroup:SecurityGroup"}),
        _security_group,
        ("EC2.18", "EC2.19"),
    ),
    Rule(
        "ec2-default-sg-closed",
        "EC2: the default security group has no rules",
        frozenset({"aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"}),
        _default_security_group,
        ("EC2.2",),
    ),
    Rule(
        "ec2-no-public-ip",
        "EC2: subnets do not assign public IPs",
        frozenset({"aws:ec2/subnet:Subnet"}),
        _subnet,
        ("EC2.15",),
    ),
    Rule("kms-rotation", "KMS: customer keys rotate", frozenset({"aws:kms/key:Key"}), _kms, ("KMS.4",)),
    Rule(
        "sns-encrypted",
        "SNS: topics encrypted with KMS",
        frozenset({"aws:sns/topic:Topic"}),
        _needs_key("kmsMasterKeyId", "encrypt the topic with the alerts key (SNS.1)"),
        ("SNS.1",),
    ),
    Rule(
        "kinesis-encrypted",
        "Kinesis: streams encrypted with KMS",
        frozenset({"aws:kinesis/stream:Stream"}),
        _kinesis,
        ("Kinesis.1",),
    ),
    Rule(
        "logs-encrypted",
        "CloudWatch Logs: groups encrypted with KMS",
        frozenset({"aws:cloudwatch/logGroup:LogGroup"}),
        _needs_key("kmsKeyId", "encrypt the log group with the logs key"),
        (),
    ),
    Rule(
        "secrets-cmk",
        "Secrets Manager: secrets encrypted with the platform key",
        frozenset({"aws:secretsmanager/secret:Secret"}),
        _needs_key("kmsKeyId", "encrypt the secret with the data key"),
        (),
    ),
    Rule("prod-protect", "Prod: stateful resources carry Pulumi protect", STATEFUL, _protected_in_prod, ()),
    Rule(
        "k8s-hardened-pods",
        "Kubernetes: pods non-root, read-only root, no privilege escalation, no capabilities, limits",
        frozenset({"kubernetes:apps/v1:Deployment"}),
        _hardened_pod,
        (),
    ),
    Rule(
        "k8s-ingress-by-namespace",
        "Kubernetes: NetworkPolicy ingress names its source namespaces; none admits every namespace or source; "
        "address blocks are private and port-bound",
        frozenset({"kubernetes:networking.k8s.io/v1:NetworkPolicy"}),
        _ingress_by_namespace,
        (),
    ),
)


def violations(resource_type: str, resource_name: str, props: Props, *, protect: bool) -> list[Violation]:
    """Every rule ``resource_type`` breaks with these properties."""
    context = Context(protect=protect)
    return [
        Violation(rule.name, resource_type, resource_name, message)
        for rule in RULES
        if resource_type in rule.resource_types
        for message in rule.check(props, context)
    ]


def controls_covered() -> list[str]:
    """The FSBP controls the pack checks, sorted."""
    return sorted({control for rule in RULES for control in rule.controls})
