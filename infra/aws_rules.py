"""What the AWS APIs accept, as tables and pure checks: each cites the AWS page it comes from.

Mocks accept any value; AWS does not. The stack config (:mod:`infra.config`) runs these
checks when it is parsed, so a value AWS would refuse fails before anything is created,
with the key, the value and what is accepted. Tables hold what AWS documents today;
when AWS adds a version or an instance family, add it here (and its test row).
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass
from datetime import date

# --- ElastiCache AUTH token ---------------------------------------------------------------
# https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/auth.html and the AuthToken
# parameter of CreateReplicationGroup: 16-128 printable ASCII characters; the only
# non-alphanumeric characters allowed are ! & # $ ^ < > -.

AUTH_TOKEN_SPECIALS = "!&#$^<>-"  # noqa: S105 - the characters AWS allows, not a token
AUTH_TOKEN_LENGTH = (16, 128)


def auth_token_problems(token: str) -> list[str]:
    """Why ElastiCache would refuse ``token`` as an AUTH token (empty: it accepts it)."""
    low, high = AUTH_TOKEN_LENGTH
    problems = []
    if not low <= len(token) <= high:
        problems.append(f"is {len(token)} characters; ElastiCache takes {low}-{high}")
    allowed = set(string.ascii_letters + string.digits + AUTH_TOKEN_SPECIALS)
    refused = sorted({c for c in token if c not in allowed})
    if refused:
        problems.append(f"contains {''.join(refused)!r}; the only specials allowed are {AUTH_TOKEN_SPECIALS!r}")
    return problems


# --- RDS for MySQL: engine versions and parameter group families ---------------------------
# https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/MySQL.Concepts.VersionMgmt.html:
# a MySQL version is X.Y.Z, X.Y the major version. A DB parameter group belongs to one
# family, ``mysql<major>`` (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_WorkingWithParamGroups.html),
# and an instance can only use a group of its own major version's family. 8.4 is the
# current long-term-support major version; 8.0 left standard support on 2026-07-31 (RDS
# Extended Support, billed per vCPU-hour, after that).
MYSQL_MAJOR_VERSIONS = ("8.0", "8.4")
_MYSQL_VERSION = re.compile(r"^(?P<major>\d+\.\d+)(?:\.\d+)?$")


def mysql_major_version(engine_version: str) -> str:
    """``8.4`` for ``8.4`` or ``8.4.6``; :class:`ValueError` naming the accepted versions otherwise."""
    match = _MYSQL_VERSION.match(engine_version)
    if match is None or match["major"] not in MYSQL_MAJOR_VERSIONS:
        raise ValueError(
            f"{engine_version!r} is not an RDS for MySQL version mlplat supports; "
            f"use a major version ({', '.join(repr(v) for v in MYSQL_MAJOR_VERSIONS)}), e.g. '8.4'"
        )
    return match["major"]


def mysql_parameter_group_family(engine_version: str) -> str:
    """The parameter group family of an RDS for MySQL version: ``mysql8.4`` for ``8.4`` or ``8.4.6``."""
    return f"mysql{mysql_major_version(engine_version)}"


# --- RDS for MySQL: log exports ------------------------------------------------------------------
# https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_LogAccess.MySQLDB.PublishtoCloudWatchLogs.html:
# the error log is always written; the general and slow query logs only when the instance's
# parameter group turns them on (general_log = 1, slow_query_log = 1), and only a log written
# to a file (log_output = FILE) reaches CloudWatch Logs. Exporting a log that is never
# written is accepted and silently publishes nothing.
MYSQL_LOG_EXPORTS = ("audit", "error", "general", "iam-db-auth-error", "slowquery")
MYSQL_LOG_PARAMETERS = {"general": {"general_log": "1"}, "slowquery": {"slow_query_log": "1"}}
MYSQL_LOGS_DOC = (
    "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_LogAccess.MySQLDB.PublishtoCloudWatchLogs.html"
)


def mysql_log_parameters(exports: tuple[str, ...]) -> dict[str, str]:
    """The DB parameters without which the exported MySQL logs ``exports`` would stay empty."""
    unknown = [e for e in exports if e not in MYSQL_LOG_EXPORTS]
    if unknown:
        raise ValueError(f"RDS for MySQL exports no {unknown} logs; it exports {', '.join(MYSQL_LOG_EXPORTS)}")
    parameters = {k: v for e in exports for k, v in MYSQL_LOG_PARAMETERS.get(e, {}).items()}
    return {**parameters, "log_output": "FILE"} if parameters else {}


def mysql_log_export_problems(exports: list[str], parameters: dict[str, str]) -> list[str]:
    """Each exported log that the parameter group leaves unwritten (empty: every export publishes)."""
    return [
        f"exports the {export} log but the parameter group does not set {name}={value} ({MYSQL_LOGS_DOC})"
        for export in exports
        for name, value in mysql_log_parameters((export,)).items()
        if parameters.get(name) != value
    ]


# --- RDS instance classes -----------------------------------------------------------------
# https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Concepts.DBInstanceClass.Support.html
# ("Supported DB engines for DB instance classes"): the current-generation classes RDS for
# MySQL 8.0 and 8.4 run on. Previous generations (db.t2, db.m4, db.r4, ...) are refused.
MYSQL_INSTANCE_FAMILIES = frozenset(
    {
        *("t3", "t4g"),
        *("m5", "m5d", "m6g", "m6gd", "m6i", "m6id", "m6idn", "m6in", "m7g", "m7i", "m8g"),
        *("r5", "r5b", "r5d", "r6g", "r6gd", "r6i", "r6id", "r6idn", "r6in", "r7g", "r7i", "r8g"),
        *("x2g", "x2idn", "x2iedn", "x2iezn", "z1d"),
    }
)
_RDS_CLASS = re.compile(r"^db\.(?P<family>[a-z0-9]+)\.(?P<size>[a-z0-9]+)$")


def rds_instance_family(instance_class: str) -> str:
    """``m7g`` of ``db.m7g.large``; :class:`ValueError` if RDS for MySQL has no such class."""
    match = _RDS_CLASS.match(instance_class)
    if match is None:
        raise ValueError(f"{instance_class!r} is not an RDS instance class; write it like 'db.m7g.large'")
    if match["family"] not in MYSQL_INSTANCE_FAMILIES:
        raise ValueError(
            f"RDS for MySQL does not run on {instance_class!r}; use a current-generation class "
            f"({', '.join(sorted(MYSQL_INSTANCE_FAMILIES))})"
        )
    return match["family"]


# --- Performance Insights ---------------------------------------------------------------
# https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PerfInsights.Overview.Engines.html
# ("Supported DB engines and instance classes for Performance Insights", now "Amazon RDS DB
# engine, Region, and instance class support for Database Insights"): for RDS for MySQL it
# is not supported on these classes; CreateDBInstance with it enabled fails on them.
PERFORMANCE_INSIGHTS_UNSUPPORTED_MYSQL = frozenset(
    {"db.t2.micro", "db.t2.small", "db.t3.micro", "db.t3.small", "db.t4g.micro", "db.t4g.small"}
)


def performance_insights_supported(instance_class: str) -> bool:
    """Whether RDS for MySQL can turn Performance Insights on for ``instance_class``."""
    return instance_class not in PERFORMANCE_INSIGHTS_UNSUPPORTED_MYSQL


# --- ElastiCache for Valkey ---------------------------------------------------------------
# https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/engine-versions.html: node-based
# Valkey clusters run 7.2, 8.0, 8.1, 8.2 and 9.0, named by major.minor; a replication group
# can be upgraded but never downgraded (SelectEngine.html).
VALKEY_VERSIONS = ("7.2", "8.0", "8.1", "8.2", "9.0")
# https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/CacheNodes.SupportedTypes.html:
# Valkey runs on the current-generation node types; in-transit encryption (which AUTH and
# this platform require, see https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/in-transit-encryption.html)
# is supported on all of them. Previous generations (cache.t2, cache.m4, cache.r4, ...) are refused.
CACHE_NODE_FAMILIES = frozenset({"t3", "t4g", "m5", "m6g", "m7g", "r5", "r6g", "r6gd", "r7g", "c7gn"})
_CACHE_NODE = re.compile(r"^cache\.(?P<family>[a-z0-9]+)\.(?P<size>[a-z0-9]+)$")


def cache_node_family(node_type: str) -> str:
    """``m7g`` of ``cache.m7g.large``; :class:`ValueError` if Valkey has no such node type."""
    match = _CACHE_NODE.match(node_type)
    if match is None:
        raise ValueError(f"{node_type!r} is not an ElastiCache node type; write it like 'cache.m7g.large'")
    if match["family"] not in CACHE_NODE_FAMILIES:
        raise ValueError(
            f"ElastiCache for Valkey with in-transit encryption does not run on {node_type!r}; "
            f"use a current-generation type ({', '.join(sorted(CACHE_NODE_FAMILIES))})"
        )
    return match["family"]


#: Node families that keep data on local SSD (data tiering): CreateReplicationGroup requires
#: DataTieringEnabled=true on them, and refuses it on any other
#: (https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_CreateReplicationGroup.html;
#: https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/data-tiering.html).
DATA_TIERING_FAMILIES = frozenset({"r6gd"})


def cache_data_tiering(node_type: str) -> bool:
    """Whether ElastiCache requires (and only then accepts) data tiering on ``node_type``."""
    return cache_node_family(node_type) in DATA_TIERING_FAMILIES


# --- EKS --------------------------------------------------------------------------------
# https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html: a minor version
# has 14 months of standard support and 12 more of extended support (billed extra); after
# that EKS upgrades the cluster itself. The versions EKS offers, with the end of extended support:


@dataclass(frozen=True)
class EksVersion:
    """One Kubernetes minor version on EKS."""

    version: str
    end_of_standard_support: str
    end_of_extended_support: str


EKS_VERSIONS = {
    v.version: v
    for v in (
        EksVersion("1.32", "2026-03-23", "2027-03-23"),
        EksVersion("1.33", "2026-07-29", "2027-07-29"),
        EksVersion("1.34", "2026-12-02", "2027-12-02"),
        EksVersion("1.35", "2027-03-27", "2028-03-27"),
    )
}


def eks_version(version: str) -> EksVersion:
    """The EKS support window of ``version``; :class:`ValueError` if EKS does not offer it."""
    if version not in EKS_VERSIONS:
        raise ValueError(f"EKS does not offer Kubernetes {version!r}; use one of {', '.join(EKS_VERSIONS)}")
    return EKS_VERSIONS[version]


def eks_support_note(version: str, today: date) -> str | None:
    """What ``pulumi up`` should warn about a cluster on ``version`` ``today``: extended support (billed
    at the extended-support rate, https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html)
    or past it (EKS upgrades the cluster itself). ``None`` while the version is in standard support."""
    window = eks_version(version)
    if today.isoformat() > window.end_of_extended_support:
        return f"Kubernetes {version} left EKS extended support on {window.end_of_extended_support}: EKS upgrades the cluster itself"
    if today.isoformat() > window.end_of_standard_support:
        newer = [v for v, w in EKS_VERSIONS.items() if today.isoformat() <= w.end_of_standard_support]
        return (
            f"Kubernetes {version} is in EKS extended support since {window.end_of_standard_support}, billed at the "
            f"extended-support rate; upgrade cluster.kubernetesVersion (and the add-ons) to {' or '.join(newer) or 'a newer version'}"
        )
    return None


_ADDON_VERSION = re.compile(r"^v(?P<major>\d+)\.(?P<minor>\d+)\.\d+-eksbuild\.\d+$")
_ADDON_VERSION_PARTS = re.compile(r"^v(\d+)\.(\d+)\.(\d+)-eksbuild\.\d+$")


def addon_version_problem(addon: str, version: str, kubernetes_version: str) -> str | None:
    """Why EKS would refuse add-on ``version`` on a cluster of ``kubernetes_version`` (``None``: it accepts it).

    Add-on versions read ``v<major>.<minor>.<patch>-eksbuild.<n>``
    (https://docs.aws.amazon.com/eks/latest/userguide/creating-an-add-on.html). kube-proxy
    follows the cluster: its minor version must be the cluster's
    (https://docs.aws.amazon.com/eks/latest/userguide/managing-kube-proxy.html).
    """
    match = _ADDON_VERSION.match(version)
    if match is None:
        return f"{version!r} is not an EKS add-on version; write it like 'v1.20.4-eksbuild.1'"
    if addon == "kube-proxy" and f"{match['major']}.{match['minor']}" != kubernetes_version:
        return f"kube-proxy {version} is not for Kubernetes {kubernetes_version}; use a v{kubernetes_version}.x build"
    return None


# Container Insights: the node alarms watch ContainerInsights/node_cpu_utilization and friends, the
# CloudWatch-format metrics of the amazon-cloudwatch-observability add-on's classic configuration.
# From v6.0.1-eksbuild.1 the add-on can run as OTel Container Insights, which publishes the
# sources' own metric names (container_cpu_usage_seconds_total, ...) for PromQL instead
# (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/container-insights-otel-metrics.html):
# the node alarms would then watch nothing and never fire. An upgrade past this bound comes
# with a check that the classic metrics are still published (or new alarms), then a new bound.
CLASSIC_CONTAINER_INSIGHTS_BEFORE = (6, 0, 1)
CONTAINER_INSIGHTS_OTEL_DOC = (
    "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/container-insights-otel-metrics.html"
)


def container_insights_addon_problem(version: str) -> str | None:
    """Why ``amazon-cloudwatch-observability`` ``version`` may leave the node alarms without metrics (``None``: it does not)."""
    match = _ADDON_VERSION_PARTS.match(version)
    if match is None:
        return None  # addon_version_problem names a malformed version
    if tuple(int(part) for part in match.groups()) >= CLASSIC_CONTAINER_INSIGHTS_BEFORE:
        return (
            f"{version} can publish OTel Container Insights metrics instead of the ContainerInsights node_* "
            "metrics the node alarms watch; keep a v4/v5 build, or move the alarms first and raise "
            f"infra.aws_rules.CLASSIC_CONTAINER_INSIGHTS_BEFORE ({CONTAINER_INSIGHTS_OTEL_DOC})"
        )
    return None


# --- EC2 instance types of the node groups ------------------------------------------------
# https://docs.aws.amazon.com/ec2/latest/instancetypes/instance-type-names.html: a type is
# <series><generation><options>.<size>; the option letter ``g`` means an AWS Graviton (arm64)
# processor. The node groups run the x86_64 AL2023 AMI (AL2023_x86_64_STANDARD), on which an
# arm64 type cannot boot: EKS refuses the node group.
_INSTANCE_TYPE = re.compile(r"^(?P<series>[a-z]+)(?P<generation>\d+)(?P<options>[a-z-]*)\.(?P<size>[a-z0-9]+)$")


def instance_architecture(instance_type: str) -> str:
    """``arm64`` for Graviton types (``m7g.large``), ``x86_64`` otherwise; :class:`ValueError` if malformed."""
    match = _INSTANCE_TYPE.match(instance_type)
    if match is None:
        raise ValueError(f"{instance_type!r} is not an EC2 instance type; write it like 'm7i.large'")
    graviton = "g" in match["options"].split("-")[0] or match["series"] == "a"  # a1: the first Graviton
    return "arm64" if graviton else "x86_64"


# Accelerated series (https://docs.aws.amazon.com/ec2/latest/instancetypes/ac.html): GPUs (p, g, gr),
# Inferentia and Trainium (inf, trn), Gaudi (dl), FPGAs (f) and video transcoding (vt). They need
# an accelerated AMI type (AL2023_x86_64_NVIDIA, AL2023_x86_64_NEURON:
# https://docs.aws.amazon.com/eks/latest/userguide/ml-eks-optimized-ami.html); on the standard AMI
# the nodes join but their accelerators have no drivers, and the group is paid for in vain.
ACCELERATED_SERIES = frozenset({"p", "g", "gr", "inf", "trn", "dl", "f", "vt"})
ACCELERATED_AMI_DOC = "https://docs.aws.amazon.com/eks/latest/userguide/ml-eks-optimized-ami.html"


def accelerated(instance_type: str) -> bool:
    """Whether ``instance_type`` carries accelerators a standard AMI has no drivers for (``g5.xlarge``)."""
    match = _INSTANCE_TYPE.match(instance_type)
    if match is None:
        raise ValueError(f"{instance_type!r} is not an EC2 instance type; write it like 'm7i.large'")
    return match["series"] in ACCELERATED_SERIES


# --- CloudWatch Logs retention ------------------------------------------------------------
# PutRetentionPolicy / the RetentionInDays of a log group
# (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html)
# takes only these values.
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip


def log_retention_days(days: int) -> int:
    """``days`` if CloudWatch Logs accepts it as a retention period; :class:`ValueError` naming the nearest values."""
    if days not in LOG_RETENTION_DAYS:
        below = max((d for d in LOG_RETENTION_DAYS if d < days), default=None)
        above = min((d for d in LOG_RETENTION_DAYS if d > days), default=None)
        nearest = " or ".join(str(d) for d in (below, above) if d is not None)
        raise ValueError(
            f"CloudWatch Logs keeps logs for one of {', '.join(map(str, LOG_RETENTION_DAYS))} days; "
            f"{days} is not one of them (nearest: {nearest})"
        )
    return days


# --- CloudWatch alarms --------------------------------------------------------------------
# PutMetricAlarm (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html):
# Period is 10, 20, 30 or a multiple of 60 seconds; EvaluationPeriods x Period is at most
# 7 days, and at most 1 day when Period is under an hour.


def metric_alarm_problems(period: int, evaluation_periods: int) -> list[str]:
    """Why CloudWatch would refuse an alarm evaluating ``evaluation_periods`` periods of ``period`` seconds."""
    problems = []
    if period not in (10, 20, 30) and (period <= 0 or period % 60):
        problems.append(f"period {period}s: CloudWatch takes 10, 20, 30 or a multiple of 60 seconds")
    limit = 86_400 if period < 3600 else 604_800
    if evaluation_periods < 1 or period * evaluation_periods > limit:
        problems.append(
            f"{evaluation_periods} periods of {period}s: the evaluation range must be 1 to {limit // 86_400} day(s)"
        )
    return problems


# --- EMR Serverless: the application's image ------------------------------------------------
# https://docs.aws.amazon.com/emr-serverless/latest/APIReference/API_ImageConfigurationInput.html:
# imageUri is 1-1024 characters, an image in a private ECR registry named by tag or digest.
IMAGE_URI_LENGTH = (1, 1024)
_IMAGE_URI = re.compile(
    r"([0-9]{12})\.dkr\.ecr\.([a-z0-9-]+).([a-z0-9._-]+)\/"
    r"((?:[a-z0-9]+(?:[-._][a-z0-9]+)*/)*[a-z0-9]+(?:[-._][a-z0-9]+)*)"
    r"(?::([a-zA-Z0-9_]+[a-zA-Z0-9-._]*)|@(sha256:[0-9a-f]{64}))"
)


def image_uri_problems(uri: str) -> list[str]:
    """Why EMR Serverless would refuse ``uri`` as an application's image (empty: it accepts it)."""
    low, high = IMAGE_URI_LENGTH
    problems = []
    if not low <= len(uri) <= high:
        problems.append(f"is {len(uri)} characters; EMR Serverless takes {low}-{high}")
    if _IMAGE_URI.fullmatch(uri) is None:
        problems.append(
            "is not an ECR image EMR Serverless can run; write "
            "<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag> (or @sha256:<digest>)"
        )
    return problems


# --- IAM policy sizes ------------------------------------------------------------------------
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html ("IAM and AWS STS
# character limits"): the inline policies of one role total at most 10,240 characters, and a
# role's trust policy at most 2,048 (the default quota); IAM does not count white space.
# PutRolePolicy past the total fails with LimitExceeded, CreateRole past the trust limit with
# LimitExceeded too: the deploy stops half-way.
ROLE_INLINE_POLICIES_CHARACTERS = 10_240
ROLE_TRUST_POLICY_CHARACTERS = 2_048
IAM_QUOTAS_DOC = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"


def iam_policy_characters(document: str) -> int:
    """The size IAM counts for a policy document: its characters, white space left out."""
    return sum(1 for c in document if not c.isspace())


# --- KMS key policies --------------------------------------------------------------------------
# CreateKey (https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html) takes a
# policy of at most 32,768 bytes, and refuses one (MalformedPolicyDocumentException) that
# would not let the caller change it again; the statement that keeps the key manageable is
# the default one letting the account root do everything, which hands control to IAM
# (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html#key-policy-default-allow-root-enable-iam).
# Without it nobody can ever edit or schedule the key for deletion short of AWS support.
KEY_POLICY_BYTES = 32_768
KEY_POLICY_DOC = "https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html"
_ACCOUNT_ROOT = re.compile(r"(arn:aws[a-z-]*:iam::)?\d{12}(:root)?")


def _listed(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else [value]


def _lets_the_account_administer(statement: object) -> bool:
    if not isinstance(statement, dict) or statement.get("Effect") != "Allow" or "Condition" in statement:
        return False
    principal = statement.get("Principal")
    aws_principals = _listed(principal.get("AWS")) if isinstance(principal, dict) else []
    root = any(isinstance(p, str) and _ACCOUNT_ROOT.fullmatch(p) for p in aws_principals)
    return root and "kms:*" in _listed(statement.get("Action")) and "*" in _listed(statement.get("Resource"))


def key_policy_problems(policy: str) -> list[str]:
    """Why KMS would refuse ``policy`` for a key, or the key would be locked (empty: neither)."""
    problems = []
    if len(policy.encode()) > KEY_POLICY_BYTES:
        problems.append(f"the key policy is {len(policy.encode()):,} bytes; KMS takes {KEY_POLICY_BYTES:,}")
    try:
        statements = _listed(json.loads(policy).get("Statement"))
    except (ValueError, AttributeError):
        return [*problems, f"the key policy is not a JSON policy document ({KEY_POLICY_DOC})"]
    if not any(_lets_the_account_administer(s) for s in statements):
        problems.append(
            "no statement lets the account root do kms:* on '*': the key could never be managed again "
            f"(add the default statement, {KEY_POLICY_DOC})"
        )
    return problems


# --- EMR Serverless application metrics --------------------------------------------------------
# https://docs.aws.amazon.com/emr/latest/EMR-Serverless-UserGuide/app-job-metrics.html: the
# application-level metrics (FailedJobs, ...) in AWS/EMRServerless keyed by ApplicationId
# alone are no longer updated from release 7.10 on, where ApplicationName and JobName join
# the dimensions. An alarm on the old dimensions would then never fire (it treats missing
# data as not breaching): the release and the alarm's dimensions move together.
APPLICATION_ID_METRICS_BEFORE = (7, 10)
EMR_METRICS_DOC = "https://docs.aws.amazon.com/emr/latest/EMR-Serverless-UserGuide/app-job-metrics.html"
_EMR_RELEASE = re.compile(r"emr-(?P<major>\d+)\.(?P<minor>\d+)\.\d+")


def application_id_metrics_problem(release_label: str) -> str | None:
    """Why an alarm keyed by ``ApplicationId`` alone would go silent on ``release_label`` (``None``: it works)."""
    match = _EMR_RELEASE.fullmatch(release_label)
    if match is None:
        return f"{release_label!r} is not an EMR release label; write it like 'emr-7.9.0'"
    if (int(match["major"]), int(match["minor"])) >= APPLICATION_ID_METRICS_BEFORE:
        return (
            f"{release_label} no longer updates the ApplicationId-only metrics the failed-jobs alarm watches; "
            f"move the alarm to the ApplicationName and JobName dimensions first ({EMR_METRICS_DOC})"
        )
    return None


# --- IAM policy grammar ------------------------------------------------------------------------
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html: a document has
# Version 2012-10-17 and statements with an Effect, an Action (or NotAction) of
# ``<service>:<action>`` with wildcards, and, in an identity policy, a Resource (or
# NotResource) of ``*`` or ARNs and no Principal; trust and resource policies name a
# Principal. Condition operators are a fixed set, optionally ``ForAllValues:``/``ForAnyValue:``
# and ``...IfExists`` (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html).
# IAM, S3, SNS, ECR and KMS refuse a document that breaks this (MalformedPolicyDocument): an
# ARN that was still empty when the document was built is the usual way to get there.
POLICY_GRAMMAR_DOC = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html"
CONDITION_OPERATORS = frozenset(
    {
        *("StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"),
        *("StringLike", "StringNotLike", "NumericEquals", "NumericNotEquals", "NumericLessThan"),
        *("NumericLessThanEquals", "NumericGreaterThan", "NumericGreaterThanEquals", "DateEquals"),
        *("DateNotEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan", "DateGreaterThanEquals"),
        *("Bool", "BinaryEquals", "IpAddress", "NotIpAddress", "ArnEquals", "ArnLike", "ArnNotEquals"),
        *("ArnNotLike", "Null"),
    }
)
_ACTION = re.compile(r"\*|[a-z0-9-]+:[A-Za-z0-9*?]+")
_ARN = re.compile(r"arn:(aws[a-z-]*|\*):[a-z0-9-]+:[a-z0-9*-]*:(\d{12}|aws|\*)?:.+")


def _condition_operator_known(operator: str) -> bool:
    base = operator.removeprefix("ForAllValues:").removeprefix("ForAnyValue:")
    # Every operator but Null takes the IfExists suffix.
    plain = base.removesuffix("IfExists")
    return base in CONDITION_OPERATORS or (plain != "Null" and plain in CONDITION_OPERATORS)


def _statement_problems(index: int, statement: dict[str, object], kind: str) -> list[str]:
    problems = []
    where = f"statement {index}"
    if statement.get("Effect") not in ("Allow", "Deny"):
        problems.append(f"{where}: Effect is {statement.get('Effect')!r}, not Allow or Deny")
    actions = [a for key in ("Action", "NotAction") for a in _listed(statement.get(key, []))]
    if not actions or not all(isinstance(a, str) and _ACTION.fullmatch(a) for a in actions):
        problems.append(f"{where}: actions {actions!r} are not <service>:<action>")
    has_principal = "Principal" in statement or "NotPrincipal" in statement
    if has_principal != (kind != "identity"):
        problems.append(
            f"{where}: {'an identity policy names no' if kind == 'identity' else 'it must name a'} Principal"
        )
    resources = [r for key in ("Resource", "NotResource") for r in _listed(statement.get(key, []))]
    if kind == "identity" and not resources:
        problems.append(f"{where}: an identity policy statement needs a Resource")
    bad = [r for r in resources if not (isinstance(r, str) and (r == "*" or _ARN.fullmatch(r)))]
    if bad:
        problems.append(f"{where}: resources {bad!r} are neither '*' nor ARNs")
    conditions = statement.get("Condition", {})
    unknown = [op for op in (conditions if isinstance(conditions, dict) else {}) if not _condition_operator_known(op)]
    if unknown:
        problems.append(f"{where}: condition operators {unknown} do not exist")
    return problems


def policy_document_problems(document: str, kind: str) -> list[str]:
    """Why IAM would refuse ``document`` (``kind``: ``identity``, ``trust`` or ``resource``); empty: it would not."""
    try:
        parsed = json.loads(document)
    except ValueError:
        return [f"not JSON ({POLICY_GRAMMAR_DOC})"]
    if not isinstance(parsed, dict) or parsed.get("Version") != "2012-10-17":
        return [f"Version must be '2012-10-17' ({POLICY_GRAMMAR_DOC})"]
    statements = _listed(parsed.get("Statement", []))
    if not statements or not all(isinstance(s, dict) for s in statements):
        return [f"no statements ({POLICY_GRAMMAR_DOC})"]
    problems = [p for i, s in enumerate(statements) if isinstance(s, dict) for p in _statement_problems(i, s, kind)]
    return [f"{p} ({POLICY_GRAMMAR_DOC})" for p in problems]


# --- CloudWatch metrics the alarms watch -------------------------------------------------------
# PutMetricAlarm accepts any namespace, metric and dimensions; an alarm on a combination no
# service publishes stays INSUFFICIENT_DATA (or, treating missing data as not breaching, OK)
# forever and never pages. Each row is a metric as its service documents it, with the
# dimensions the alarm must use:


@dataclass(frozen=True)
class PublishedMetric:
    """A metric a service publishes to CloudWatch, by namespace and name, and a dimension set it carries."""

    namespace: str
    metric: str
    dimensions: frozenset[str]
    doc: str


_RDS_METRICS = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-metrics.html"
_VALKEY_METRICS = "https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/CacheMetrics.Redis.html"
_CONTAINER_INSIGHTS = (
    "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Container-Insights-metrics-EKS.html"
)
PUBLISHED_METRICS = (
    *(
        PublishedMetric("AWS/RDS", m, frozenset({"DBInstanceIdentifier"}), _RDS_METRICS)
        for m in ("CPUUtilization", "FreeStorageSpace", "DatabaseConnections")
    ),
    *(
        PublishedMetric("AWS/ElastiCache", m, frozenset({"CacheClusterId"}), _VALKEY_METRICS)
        for m in ("DatabaseMemoryUsagePercentage", "Evictions", "EngineCPUUtilization", "ReplicationLag")
    ),
    *(
        PublishedMetric("ContainerInsights", m, frozenset({"ClusterName"}), _CONTAINER_INSIGHTS)
        for m in ("node_cpu_utilization", "node_memory_utilization", "cluster_failed_node_count")
    ),
    PublishedMetric("AWS/EMRServerless", "FailedJobs", frozenset({"ApplicationId"}), EMR_METRICS_DOC),
)


def published_metric_problem(namespace: str, metric: str, dimensions: frozenset[str]) -> str | None:
    """Why no service publishes ``metric`` in ``namespace`` with ``dimensions`` (``None``: one does)."""
    known = [m for m in PUBLISHED_METRICS if (m.namespace, m.metric) == (namespace, metric)]
    if not known:
        return (
            f"{namespace}/{metric} is not a metric this platform knows a service to publish; check its name "
            "in the service's CloudWatch metrics page and add it to infra.aws_rules.PUBLISHED_METRICS"
        )
    if all(m.dimensions != dimensions for m in known):
        expected = " or ".join(str(sorted(m.dimensions)) for m in known)
        return (
            f"{namespace}/{metric} is published with dimensions {expected}, not {sorted(dimensions)} ({known[0].doc})"
        )
    return None
