"""The typed stack configuration: one ``mlplat:platform`` object per ``Pulumi.<stack>.yaml``.

The object is parsed once, at the edge (``infra.program.stack_config_from_pulumi`` under ``pulumi up``, or
:func:`load_stack_file` in tests and benchmarks), into a frozen :class:`StackConfig`.
Every field has a documented default; a wrong or unknown key fails with the key's full
path and what to write instead. Production stacks must be highly available and
protected: :class:`StackConfig` refuses a ``prod`` stack that is not.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from infra import aws_rules
from mlplat.diagnostics import did_you_mean, one_of
from mlplat.errors import UsageError
from mlplat.object_limits import MAX_RUNBOOK_BASE_LENGTH
from mlplat.operations.alerts import RUNBOOK_DIR

CONFIG_KEY = "mlplat:platform"
#: The AWS provider's region in a stack's config.
AWS_REGION_KEY = "aws:region"
Environment = Literal["dev", "staging", "prod"]
PositiveInt = Annotated[int, Field(ge=1)]
#: Days CloudWatch Logs keeps a group's events: only the values PutRetentionPolicy accepts.
LogRetentionDays = Annotated[int, AfterValidator(aws_rules.log_retention_days)]
_RFC1918 = tuple(ipaddress.IPv4Network(block) for block in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
#: An IAM role ARN (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-arns).
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}")


class StackConfigError(UsageError):
    """The stack's ``mlplat:platform`` object is invalid; the message has one line per problem."""


class _Config(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        use_attribute_docstrings=True,
    )


class NetworkConfig(_Config):
    """The VPC."""

    vpc_cidr: str = "10.40.0.0/16"
    """IPv4 block of the VPC, /16 to /20; carved into one public, one private and one scraper subnet per zone (infra/cidrs.py)."""
    nat_gateways: Literal["single", "perAz"] = "perAz"
    """``perAz``: one NAT gateway per zone, so losing a zone keeps egress. ``single``: one shared NAT (cheaper, dev)."""
    flow_log_retention_days: LogRetentionDays = 90
    """Days VPC flow logs are kept in CloudWatch Logs: one of the periods CloudWatch Logs offers (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, ... 3653)."""

    @field_validator("vpc_cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        network = ipaddress.ip_network(value, strict=True)
        if network.version != 4 or not 16 <= network.prefixlen <= 20:
            raise ValueError(f"{value!r} must be an IPv4 block from /16 to /20, e.g. '10.40.0.0/16'")
        return value


class NodeGroupConfig(_Config):
    """A managed node group. The cluster autoscaler moves the desired size between the bounds."""

    instance_types: Annotated[tuple[str, ...], Field(min_length=1, max_length=20)] = ("m7i.large",)
    """EC2 instance types, in order of preference: x86_64 types without accelerators (the nodes run the standard x86_64 AL2023 AMI); at most 20
    (https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateNodegroup.html)."""
    min_size: PositiveInt = 2
    """Fewest nodes."""
    max_size: PositiveInt = 6
    """Most nodes."""
    # gp3 volumes take 1-16384 GiB (https://docs.aws.amazon.com/ebs/latest/userguide/general-purpose.html);
    # the AL2023 EKS AMI's own snapshot is 20 GiB, and a root volume cannot be smaller than its AMI's snapshot.
    disk_gb: Annotated[int, Field(ge=20, le=16384)] = 50
    """Root volume size in GiB (encrypted gp3), 20-16384."""

    @field_validator("instance_types")
    @classmethod
    def _x86_64(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        arm = [t for t in value if aws_rules.instance_architecture(t) != "x86_64"]
        if arm:
            raise ValueError(f"{arm} are AWS Graviton (arm64) types; the nodes run x86_64, use e.g. m7i.large")
        gpus = [t for t in value if aws_rules.accelerated(t)]
        if gpus:
            raise ValueError(
                f"{gpus} are accelerated types; the nodes run the standard AL2023 AMI, which has no drivers for "
                f"their accelerators ({aws_rules.ACCELERATED_AMI_DOC}); use e.g. c7i.xlarge"
            )
        return value

    @model_validator(mode="after")
    def _bounds(self) -> NodeGroupConfig:
        if self.min_size > self.max_size:
            raise ValueError(f"minSize ({self.min_size}) is above maxSize ({self.max_size}); raise maxSize")
        return self


class AddonVersions(_Config):
    """Pinned EKS add-on versions; upgrade them together with ``kubernetesVersion``."""

    vpc_cni: str = "v1.20.4-eksbuild.1"
    """``vpc-cni``."""
    coredns: str = "v1.12.3-eksbuild.1"
    """``coredns``."""
    kube_proxy: str = "v1.33.3-eksbuild.6"
    """``kube-proxy``."""
    pod_identity_agent: str = "v1.3.8-eksbuild.2"
    """``eks-pod-identity-agent``."""
    cloudwatch_observability: str = "v4.4.0-eksbuild.1"
    """``amazon-cloudwatch-observability`` (Container Insights metrics for node alarms)."""
    metrics_server: str = "v0.8.0-eksbuild.2"
    """``metrics-server`` (EKS community add-on): the resource metrics the HorizontalPodAutoscalers read."""


class NodeAutoscalerConfig(_Config):
    """The Kubernetes cluster autoscaler (Helm chart ``cluster-autoscaler`` of kubernetes/autoscaler)."""

    chart_version: str = "9.43.1"
    """Pinned chart version."""
    image_tag: str = "v1.33.0"
    """Autoscaler release; its minor must equal ``kubernetesVersion``'s (the autoscaler supports one minor)."""


_ADDON_NAMES = {
    "vpc_cni": "vpc-cni",
    "coredns": "coredns",
    "kube_proxy": "kube-proxy",
    "pod_identity_agent": "eks-pod-identity-agent",
    "cloudwatch_observability": "amazon-cloudwatch-observability",
    "metrics_server": "metrics-server",
}


class ClusterConfig(_Config):
    """The EKS cluster."""

    kubernetes_version: str = "1.33"
    """Pinned Kubernetes minor version: one EKS offers (1.32 to 1.35); upgrade the add-ons with it."""
    public_access_cidrs: tuple[str, ...] = ()
    """Public CIDRs allowed to reach the API endpoint: the egress ranges of the runners that deploy the
    workloads stack. Left empty: the endpoint is private only, and the workloads stack must be deployed
    from inside the VPC."""
    deploy_role_arn: str | None = None
    """IAM role that runs ``pulumi up`` (the bootstrap stack's ``deployRoleArns.<stack>``); it gets
    cluster-admin through its own access entry. Left out: the role or user running ``pulumi up`` is used
    (its session's issuer), so whoever deploys next takes that entry over."""
    admin_role_arns: tuple[str, ...] = ()
    """More IAM roles given cluster-admin through access entries (e.g. the platform team's SSO role).
    Never the deploy role: it has its entry already."""
    viewer_role_arns: tuple[str, ...] = ()
    """IAM roles given read-only cluster access (``AmazonEKSAdminViewPolicy``), e.g. the pull-request preview role."""
    autoscaler: NodeAutoscalerConfig = Field(default_factory=NodeAutoscalerConfig)
    """The node autoscaler."""
    system_nodes: NodeGroupConfig = Field(default_factory=NodeGroupConfig)
    """Node group for cluster add-ons and the feature server."""
    serving_nodes: NodeGroupConfig = Field(default_factory=NodeGroupConfig)
    """Node group for model servers."""
    addons: AddonVersions = Field(default_factory=AddonVersions)
    """Pinned add-on versions."""
    log_retention_days: LogRetentionDays = 90
    """Days control-plane logs are kept: one of the periods CloudWatch Logs offers."""

    @field_validator("kubernetes_version")
    @classmethod
    def _offered(cls, value: str) -> str:
        aws_rules.eks_version(value)
        return value

    @model_validator(mode="after")
    def _addons_fit_the_version(self) -> ClusterConfig:
        problems = [
            f"addons.{to_camel(field)}: {problem}"
            for field, addon in _ADDON_NAMES.items()
            if (problem := aws_rules.addon_version_problem(addon, getattr(self.addons, field), self.kubernetes_version))
        ]
        insights = aws_rules.container_insights_addon_problem(self.addons.cloudwatch_observability)
        problems += [f"addons.cloudwatchObservability: {insights}"] if insights else []
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @field_validator("public_access_cidrs")
    @classmethod
    def _no_world(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in value:
            network = ipaddress.ip_network(cidr, strict=True)
            if network.version != 4:
                raise ValueError(f"{cidr!r}: EKS takes IPv4 blocks here")
            if network.prefixlen == 0:
                raise ValueError(f"{cidr!r} opens the API to the internet; list the deploy runners' egress ranges")
            # EKS accepts only public blocks here (UpdateClusterConfig, vpcConfig.publicAccessCidrs);
            # private ranges reach the API through the private endpoint instead.
            if any(network.subnet_of(block) for block in _RFC1918):
                raise ValueError(
                    f"{cidr!r} is a private range; it reaches the private endpoint, list public CIDRs only"
                )
        return value

    @field_validator("deploy_role_arn", "admin_role_arns", "viewer_role_arns")
    @classmethod
    def _role_arns(cls, value: str | tuple[str, ...] | None) -> str | tuple[str, ...] | None:
        for arn in (value,) if isinstance(value, str) else value or ():
            if not ROLE_ARN.fullmatch(arn):
                raise ValueError(f"{arn!r} is not an IAM role ARN; write arn:aws:iam::<account id>:role/<name>")
        if isinstance(value, tuple) and len(set(value)) != len(value):
            raise ValueError(f"{list(value)} lists a role twice; EKS allows one access entry per principal")
        return value

    @model_validator(mode="after")
    def _one_entry_per_principal(self) -> ClusterConfig:
        # CreateAccessEntry fails with ResourceInUseException for a principal that has an entry.
        if self.deploy_role_arn is not None and self.deploy_role_arn in self.admin_role_arns:
            raise ValueError(
                f"adminRoleArns lists the deploy role {self.deploy_role_arn!r}, which has its own access entry "
                "(deployRoleArn); remove it from adminRoleArns"
            )
        both = sorted(set(self.viewer_role_arns) & {*self.admin_role_arns, self.deploy_role_arn or ""})
        if both:
            raise ValueError(f"viewerRoleArns repeats {both}, already an admin; a principal has one access entry")
        if not self.autoscaler.image_tag.startswith(f"v{self.kubernetes_version}."):
            raise ValueError(
                f"autoscaler.imageTag {self.autoscaler.image_tag!r} does not match kubernetesVersion "
                f"{self.kubernetes_version!r}; use the autoscaler release v{self.kubernetes_version}.<patch>"
            )
        return self


class DatabaseConfig(_Config):
    """The registry database (RDS for MySQL 8.4 LTS)."""

    instance_class: str = "db.m7g.large"
    """RDS instance class: a current-generation class RDS for MySQL runs on (db.t4g, db.m7g, db.r7g, ...)."""
    engine_version: str = "8.4"
    """MySQL major version, ``8.4`` (LTS) or ``8.0``; RDS applies the minor versions itself. The parameter group
    family follows it; changing it is a major version upgrade."""
    performance_insights: bool | None = None
    """Performance Insights. Left out: on wherever the instance class supports it (RDS for MySQL does not
    on db.t2/t3/t4g micro and small)."""
    # gp3 storage for RDS for MySQL: 20-65,536 GiB (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/CHAP_Storage.html).
    allocated_storage_gb: Annotated[int, Field(ge=20, le=65536)] = 50
    """Initial gp3 storage in GiB, 20-65536."""
    max_allocated_storage_gb: Annotated[int, Field(ge=22, le=65536)] = 200
    """Ceiling for storage autoscaling in GiB: at least 10% above ``allocatedStorageGb``."""
    multi_az: bool = True
    """A synchronous standby in another zone. Required in prod."""
    # BackupRetentionPeriod: 0-35 days (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstance.html);
    # 0 turns automated backups off, which the baseline refuses (RDS.11).
    backup_retention_days: Annotated[int, Field(ge=1, le=35)] = 14
    """Days of automated backups (point-in-time recovery window), 1-35."""

    @field_validator("instance_class")
    @classmethod
    def _instance_class(cls, value: str) -> str:
        aws_rules.rds_instance_family(value)
        return value

    @field_validator("engine_version")
    @classmethod
    def _engine_version(cls, value: str) -> str:
        major = aws_rules.mysql_major_version(value)
        # Auto minor version upgrades are on (FSBP RDS.13): once RDS has moved a pinned minor
        # on, `pulumi up` would ask for the older one and RDS refuses downgrades. A major
        # version lets the provider follow the minor RDS runs (engineVersionActual).
        if value != major:
            raise ValueError(
                f"{value!r} pins a minor version, which RDS upgrades by itself (auto minor version upgrade); "
                f"the next `pulumi up` would then try to downgrade. Write the major version {major!r}"
            )
        return value

    @model_validator(mode="after")
    def _supported_together(self) -> DatabaseConfig:
        if self.performance_insights and not aws_rules.performance_insights_supported(self.instance_class):
            raise ValueError(
                f"performanceInsights: RDS for MySQL has no Performance Insights on {self.instance_class}; "
                "leave performanceInsights out (or false), or use db.t4g.medium or larger"
            )
        # https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PIOPS.Autoscaling.html: the maximum
        # storage threshold must be at least 10% above the allocated storage.
        if self.max_allocated_storage_gb * 10 < self.allocated_storage_gb * 11:
            raise ValueError(
                f"maxAllocatedStorageGb ({self.max_allocated_storage_gb}) must be at least 10% above "
                f"allocatedStorageGb ({self.allocated_storage_gb}); raise it to {-(-self.allocated_storage_gb * 11 // 10)} or more"
            )
        return self

    @property
    def parameter_group_family(self) -> str:
        """``mysql8.4`` or ``mysql8.0``: the family of the engine version."""
        return aws_rules.mysql_parameter_group_family(self.engine_version)

    @property
    def performance_insights_enabled(self) -> bool:
        """Whether Performance Insights is on: as configured, else wherever the class supports it."""
        if self.performance_insights is not None:
            return self.performance_insights
        return aws_rules.performance_insights_supported(self.instance_class)


class CacheConfig(_Config):
    """The online store (ElastiCache for Valkey, Redis-compatible)."""

    node_type: str = "cache.m7g.large"
    """ElastiCache node type: a current-generation type (cache.t4g, cache.m7g, cache.r7g, ...)."""
    engine_version: str = "8.0"
    """Valkey version, major.minor: 7.2, 8.0, 8.1, 8.2 or 9.0 (upgrades only: ElastiCache never downgrades)."""
    replicas: Annotated[int, Field(ge=0, le=5)] = 1
    """Read replicas beside the primary. At least 1 for automatic failover."""
    snapshot_retention_days: Annotated[int, Field(ge=0, le=35)] = 7
    """Days of daily snapshots; 0 turns snapshots off."""
    auth_token_update_strategy: Literal["ROTATE", "SET"] = "ROTATE"  # noqa: S105 - a strategy, not a token
    """How a new AUTH token is applied: ``ROTATE`` keeps the previous one valid too (clients switch without
    errors); ``SET`` then revokes the previous one. See docs/infra.md, "Rotating secrets"."""

    @field_validator("node_type")
    @classmethod
    def _node_type(cls, value: str) -> str:
        aws_rules.cache_node_family(value)
        return value

    @field_validator("engine_version")
    @classmethod
    def _engine_version(cls, value: str) -> str:
        if value not in aws_rules.VALKEY_VERSIONS:
            raise ValueError(f"ElastiCache has no Valkey {value!r}; use one of {', '.join(aws_rules.VALKEY_VERSIONS)}")
        return value


class BatchConfig(_Config):
    """The EMR Serverless application that runs Spark materialization."""

    max_vcpu: PositiveInt = 64
    """Most vCPUs all running jobs may use together (a cost ceiling)."""
    max_memory_gb: PositiveInt = 256
    """Most memory all running jobs may use together."""
    # AutoStopConfig.idleTimeoutMinutes: 1-10080 (https://docs.aws.amazon.com/emr-serverless/latest/APIReference/API_AutoStopConfig.html).
    idle_stop_minutes: Annotated[int, Field(ge=1, le=10080)] = 15
    """Minutes without jobs before the application releases its workers, 1-10080."""


class DecisionLogConfig(_Config):
    """The durable record of every model decision."""

    shards: PositiveInt = 2
    """Kinesis shards (1 MB/s or 1,000 records/s of writes each)."""
    # Kinesis keeps records 24-8760 hours (https://docs.aws.amazon.com/kinesis/latest/APIReference/API_IncreaseStreamRetentionPeriod.html).
    stream_retention_hours: Annotated[int, Field(ge=24, le=8760)] = 24
    """Hours records stay readable in the stream, 24-8760."""
    # Object Lock default retention: at most 100 years (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html).
    object_lock_days: Annotated[int, Field(ge=1, le=36500)] = 2555
    """Days each archived record is locked in compliance mode (nobody, root included, can delete it). 2555 ≈ 7 years."""


class AlertsConfig(_Config):
    """Where alarms go."""

    emails: tuple[str, ...] = ()
    """Email addresses subscribed to the alarm topic. Left empty: subscribe a pager later by hand."""
    # At most as long as `mlplat validate` counts it when it sizes the SLO rules' namespace.
    runbook_base_url: Annotated[str, Field(min_length=1, max_length=MAX_RUNBOOK_BASE_LENGTH)] = RUNBOOK_DIR
    """Prefix of each alert's ``runbook_url`` (e.g. the repository's ``docs/runbooks`` on its web host), at most 256 characters. Left out: the repository path ``docs/runbooks``."""

    @field_validator("emails")
    @classmethod
    def _emails(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for email in value:
            if "@" not in email:
                raise ValueError(f"{email!r} is not an email address")
        return value


def _not_latest(tag: str) -> str:
    if tag == "latest":
        raise ValueError("'latest' names a different image over time; use the release tag (e.g. '1.4.2')")
    return tag


ImageTag = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"), AfterValidator(_not_latest)]


class ImagesConfig(_Config):
    """Image tags of the services (deployed by the Kubernetes part of the program) and of the Spark jobs.

    Tags are immutable in the registries, so a tag names one image forever; ``latest``
    is refused because it would not.
    """

    feature_server: ImageTag = "0.1.0"
    """Feature server image tag."""
    model_server: ImageTag = "0.1.0"
    """Model server image tag."""
    jobs: ImageTag = "0.1.0"
    """Spark job image tag (``services/jobs/Dockerfile``): the runtime of the EMR Serverless application."""
    jobs_runtime: ImageTag | None = None
    """The job image tag the EMR Serverless application runs: one already in the registry (the ``jobs`` tag of an earlier deploy, which ``infra/stacks/push-images.sh`` pushed). EMR Serverless refuses to create or update the application with an image it cannot pull, and the images are pushed after the platform stack's ``up``, so a new ``jobs`` tag reaches the application in a second deploy (docs/infra.md). Left out: no image configuration; scheduled runs start on the plain EMR image and fail to import mlplat."""


#: A Kubernetes resource quantity: the pattern of ``resource.Quantity`` in the Kubernetes OpenAPI
#: schema (https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/).
Quantity = Annotated[
    str,
    Field(
        pattern=r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
    ),
]


class FeatureServerConfig(_Config):
    """The feature server Deployment."""

    min_replicas: Annotated[int, Field(ge=1, le=100)] = 2
    """Fewest replicas; the autoscaler moves between the bounds."""
    max_replicas: Annotated[int, Field(ge=1, le=200)] = 6
    """Most replicas."""
    cpu: Quantity = "500m"
    """CPU per replica (requests equal limits), a Kubernetes quantity such as ``500m`` or ``2``."""
    memory: Quantity = "512Mi"
    """Memory per replica, a Kubernetes quantity such as ``512Mi`` or ``1Gi``."""

    @model_validator(mode="after")
    def _bounds(self) -> FeatureServerConfig:
        # The API server refuses an autoscaler whose maxReplicas is below minReplicas
        # (https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/horizontal-pod-autoscaler-v2/).
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"minReplicas ({self.min_replicas}) is above maxReplicas ({self.max_replicas}); raise maxReplicas"
            )
        return self


class ServicesConfig(_Config):
    """The platform's services on the cluster."""

    feature_server: FeatureServerConfig = Field(default_factory=FeatureServerConfig)
    """The feature server."""
    strict_zone_spread: bool = True
    """Refuse to schedule a replica rather than stack it in a zone that already has more. Off in dev, where nodes are few."""


#: An availability zone name: region (``eu-west-1``, ``us-gov-west-1``) and one letter
#: (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-regions-availability-zones.html).
_ZONE_NAME = re.compile(r"[a-z]{2}(-[a-z]+)+-\d[a-z]")


class StackConfig(_Config):
    """Everything a stack may vary. Defaults are production-grade; dev overrides them to be cheap."""

    environment: Environment
    """Which environment this stack is; tagged on every resource and part of every physical name."""
    availability_zones: Annotated[tuple[str, ...], Field(min_length=3, max_length=3)]
    """Exactly three zones of the stack's region, e.g. ``[eu-west-1a, eu-west-1b, eu-west-1c]``."""
    protect: bool = True
    """Deletion protection on the database, the cluster and the cache, and Pulumi ``protect`` on stateful resources. Required in prod."""
    log_retention_days: PositiveInt = 365
    """Days objects in the logs bucket are kept."""
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    """The VPC."""
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    """The EKS cluster and its node groups."""
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    """The registry database."""
    cache: CacheConfig = Field(default_factory=CacheConfig)
    """The online store."""
    batch: BatchConfig = Field(default_factory=BatchConfig)
    """The Spark application."""
    decision_log: DecisionLogConfig = Field(default_factory=DecisionLogConfig)
    """The decision stream and its locked archive."""
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    """Alarm routing."""
    images: ImagesConfig = Field(default_factory=ImagesConfig)
    """Service image tags."""
    services: ServicesConfig = Field(default_factory=ServicesConfig)
    """The services' Deployments."""

    @field_validator("availability_zones")
    @classmethod
    def _one_region(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # Zone names (eu-west-1a), not zone ids (euw1-az1): subnets and node groups take names.
        names = [zone for zone in value if _ZONE_NAME.fullmatch(zone) is None]
        if names:
            raise ValueError(f"{names} are not availability zone names; write them like 'eu-west-1a'")
        regions = {zone[:-1] for zone in value}
        if len(regions) != 1 or len(set(value)) != len(value):
            raise ValueError(f"{list(value)} must be three different zones of one region, e.g. eu-west-1a/b/c")
        return value

    @model_validator(mode="after")
    def _production_invariants(self) -> StackConfig:
        if self.environment != "prod":
            return self
        wrong = [
            (key, fix)
            for key, ok, fix in (
                ("protect", self.protect, "set protect: true"),
                ("database.multiAz", self.database.multi_az, "set database.multiAz: true"),
                ("cache.replicas", self.cache.replicas >= 1, "set cache.replicas to 1 or more"),
                ("network.natGateways", self.network.nat_gateways == "perAz", "set network.natGateways: perAz"),
            )
            if not ok
        ]
        if wrong:
            raise ValueError("prod must be highly available and protected: " + "; ".join(f"{k}: {f}" for k, f in wrong))
        return self

    @property
    def digest(self) -> str:
        """SHA-256 of the whole object: the workloads stack checks it equals the platform stack's."""
        text = json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def region(self) -> str:
        """The region the zones belong to."""
        return self.availability_zones[0][:-1]

    @property
    def high_availability(self) -> bool:
        """Whether the cache fails over automatically (needs a replica)."""
        return self.cache.replicas >= 1


def parse_stack_config(value: Any, source: str = CONFIG_KEY) -> StackConfig:
    """Validate one ``mlplat:platform`` object; :class:`StackConfigError` lists every problem with its fix."""
    try:
        # JSON mode: strict types, yet YAML lists become tuples.
        return StackConfig.model_validate_json(json.dumps(value))
    except ValidationError as error:
        lines = [_describe(source, problem) for problem in error.errors()]
        raise StackConfigError(f"{source}: {len(lines)} problem(s):\n" + "\n".join(lines)) from None


def load_stack_file(path: Path) -> StackConfig:
    """The :class:`StackConfig` written in a ``Pulumi.<stack>.yaml`` file."""
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    stack = document.get("config") or {}
    values = stack.get(CONFIG_KEY)
    if values is None:
        raise StackConfigError(f"{path}: no '{CONFIG_KEY}' under 'config'; add the platform object (see docs/infra.md)")
    config = parse_stack_config(values, f"{path.name}: {CONFIG_KEY}")
    return in_provider_region(config, stack.get(AWS_REGION_KEY), path.name)


def in_provider_region(config: StackConfig, provider_region: str | None, source: str) -> StackConfig:
    """``config`` if the AWS provider deploys to its zones' region; :class:`StackConfigError` otherwise.

    The provider creates everything in ``aws:region``; the program names zones, endpoint
    services (``com.amazonaws.<region>.s3``), key policies and buckets after the zones'
    region. Apart, the first subnet fails (its zone is not in the provider's region) after
    keys and buckets were already made in the wrong one. Left unset, the provider's region
    comes from the environment and is not checked here.
    """
    if provider_region is not None and provider_region != config.region:
        raise StackConfigError(
            f"{source}: {AWS_REGION_KEY} is {provider_region!r} but availabilityZones are in {config.region!r}; "
            f"set {AWS_REGION_KEY}: {config.region} (or zones of {provider_region})"
        )
    return config


def _describe(source: str, problem: Any) -> str:
    path = ".".join(str(part) for part in problem["loc"])
    if problem["type"] == "extra_forbidden":
        return f"  - {path}: unknown key; {_allowed_keys(problem['loc'])}"
    message = problem["msg"].removeprefix("Value error, ")
    if not path:
        return f"  - {message}"
    return f"  - {path}: {message} (got {json.dumps(problem.get('input'), default=str)})"


def _allowed_keys(loc: tuple[Any, ...]) -> str:
    model: type[BaseModel] = StackConfig
    for part in loc[:-1]:
        field = model.model_fields.get(_snake(str(part)))
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            break
        model = annotation
    keys = [field.alias or name for name, field in model.model_fields.items()]
    return f"allowed keys here: {one_of(keys, limit=20)}{did_you_mean(str(loc[-1]), keys)}"


def _snake(camel: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
