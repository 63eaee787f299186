"""The typed stack configuration: one ``mlplat:platform`` object per ``Pulumi.<stack>.yaml``.

The object is parsed once, at the edge (``infra.program.stack_config_from_pulumi`` under ``pulumi up``, or
:func:`load_stack_file` in tests and benchmarks), into a frozen :class:`StackConfig`.
Every field has a documented default; a wrong or unknown key fails with the key's full
path and what to write instead. Production stacks must be highly available and
protected: :class:`StackConfig` refuses a ``prod`` stack that is not.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from mlplat.diagnostics import did_you_mean, one_of
from mlplat.errors import UsageError

CONFIG_KEY = "mlplat:platform"
Environment = Literal["dev", "staging", "prod"]
PositiveInt = Annotated[int, Field(ge=1)]


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
    """IPv4 block of the VPC, /16 to /20; carved into one public and one private subnet per zone."""
    nat_gateways: Literal["single", "perAz"] = "perAz"
    """``perAz``: one NAT gateway per zone, so losing a zone keeps egress. ``single``: one shared NAT (cheaper, dev)."""
    flow_log_retention_days: PositiveInt = 90
    """Days VPC flow logs are kept in CloudWatch Logs."""

    @field_validator("vpc_cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        network = ipaddress.ip_network(value, strict=True)
        if network.version != 4 or not 16 <= network.prefixlen <= 20:
            raise ValueError(f"{value!r} must be an IPv4 block from /16 to /20, e.g. '10.40.0.0/16'")
        return value


class NodeGroupConfig(_Config):
    """A managed node group. The cluster autoscaler moves the desired size between the bounds."""

    instance_types: tuple[str, ...] = ("m7i.large",)
    """EC2 instance types, in order of preference."""
    min_size: PositiveInt = 2
    """Fewest nodes."""
    max_size: PositiveInt = 6
    """Most nodes."""
    disk_gb: PositiveInt = 50
    """Root volume size (encrypted gp3)."""

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


class ClusterConfig(_Config):
    """The EKS cluster."""

    kubernetes_version: str = "1.33"
    """Pinned Kubernetes minor version."""
    public_access_cidrs: tuple[str, ...] = ()
    """CIDRs allowed to reach the public API endpoint. Left empty: the endpoint is private only."""
    admin_role_arns: tuple[str, ...] = ()
    """IAM roles given cluster-admin through access entries (e.g. the platform team's SSO role)."""
    system_nodes: NodeGroupConfig = Field(default_factory=NodeGroupConfig)
    """Node group for cluster add-ons and the feature server."""
    serving_nodes: NodeGroupConfig = Field(default_factory=NodeGroupConfig)
    """Node group for model servers."""
    addons: AddonVersions = Field(default_factory=AddonVersions)
    """Pinned add-on versions."""
    log_retention_days: PositiveInt = 90
    """Days control-plane logs are kept."""

    @field_validator("public_access_cidrs")
    @classmethod
    def _no_world(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in value:
            network = ipaddress.ip_network(cidr, strict=True)
            if network.prefixlen == 0:
                raise ValueError(f"{cidr!r} opens the API to the internet; list your office or VPN ranges instead")
        return value


class DatabaseConfig(_Config):
    """The registry database (RDS MySQL 8.0)."""

    instance_class: str = "db.m7g.large"
    """RDS instance class."""
    engine_version: str = "8.0.42"
    """Pinned MySQL 8.0 minor version."""
    allocated_storage_gb: PositiveInt = 50
    """Initial gp3 storage."""
    max_allocated_storage_gb: PositiveInt = 200
    """Ceiling for storage autoscaling."""
    multi_az: bool = True
    """A synchronous standby in another zone. Required in prod."""
    backup_retention_days: Annotated[int, Field(ge=1, le=35)] = 14
    """Days of automated backups (point-in-time recovery window)."""


class CacheConfig(_Config):
    """The online store (ElastiCache for Valkey, Redis-compatible)."""

    node_type: str = "cache.m7g.large"
    """ElastiCache node type."""
    engine_version: str = "8.0"
    """Pinned Valkey version."""
    replicas: Annotated[int, Field(ge=0, le=5)] = 1
    """Read replicas beside the primary. At least 1 for automatic failover."""
    snapshot_retention_days: Annotated[int, Field(ge=0, le=35)] = 7
    """Days of daily snapshots; 0 turns snapshots off."""
    auth_token_update_strategy: Literal["ROTATE", "SET"] = "ROTATE"  # noqa: S105 - a strategy, not a token
    """How a new AUTH token is applied: ``ROTATE`` keeps the previous one valid too (clients switch without
    errors); ``SET`` then revokes the previous one. See docs/infra.md, "Rotating secrets"."""


class BatchConfig(_Config):
    """The EMR Serverless application that runs Spark materialization."""

    max_vcpu: PositiveInt = 64
    """Most vCPUs all running jobs may use together (a cost ceiling)."""
    max_memory_gb: PositiveInt = 256
    """Most memory all running jobs may use together."""
    idle_stop_minutes: PositiveInt = 15
    """Minutes without jobs before the application releases its workers."""


class DecisionLogConfig(_Config):
    """The durable record of every model decision."""

    shards: PositiveInt = 2
    """Kinesis shards (1 MB/s or 1,000 records/s of writes each)."""
    stream_retention_hours: Annotated[int, Field(ge=24, le=8760)] = 24
    """Hours records stay readable in the stream."""
    object_lock_days: PositiveInt = 2555
    """Days each archived record is locked in compliance mode (nobody, root included, can delete it). 2555 ≈ 7 years."""


class AlertsConfig(_Config):
    """Where alarms go."""

    emails: tuple[str, ...] = ()
    """Email addresses subscribed to the alarm topic. Left empty: subscribe a pager later by hand."""

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
    """Image tags of the services (deployed by the Kubernetes part of the program).

    Tags are immutable in the registries, so a tag names one image forever; ``latest``
    is refused because it would not.
    """

    feature_server: ImageTag = "0.1.0"
    """Feature server image tag."""
    model_server: ImageTag = "0.1.0"
    """Model server image tag."""


class FeatureServerConfig(_Config):
    """The feature server Deployment."""

    min_replicas: Annotated[int, Field(ge=1, le=100)] = 2
    """Fewest replicas; the autoscaler moves between the bounds."""
    max_replicas: Annotated[int, Field(ge=1, le=200)] = 6
    """Most replicas."""
    cpu: str = "500m"
    """CPU per replica (requests equal limits)."""
    memory: str = "512Mi"
    """Memory per replica."""


class ServicesConfig(_Config):
    """The platform's services on the cluster."""

    feature_server: FeatureServerConfig = Field(default_factory=FeatureServerConfig)
    """The feature server."""
    strict_zone_spread: bool = True
    """Refuse to schedule a replica rather than stack it in a zone that already has more. Off in dev, where nodes are few."""


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
    values = (document.get("config") or {}).get(CONFIG_KEY)
    if values is None:
        raise StackConfigError(f"{path}: no '{CONFIG_KEY}' under 'config'; add the platform object (see docs/infra.md)")
    return parse_stack_config(values, f"{path.name}: {CONFIG_KEY}")


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
