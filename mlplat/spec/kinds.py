"""The kinds of the spec language (``apiVersion: mlplat/v1``), as strict pydantic models.

These models check the shape and the scalar values of one document. Everything that
needs more than one document (references, duplicates, type agreement) is checked by
:mod:`mlplat.catalog_checks`, which knows where each value was written.

Field docstrings are the reference: ``docs/specs.md`` and the JSON Schema are generated
from them (``mlplat schema``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictFloat,
    StrictInt,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel

from mlplat.spec.types import (
    CpuQuantity,
    DataUri,
    DType,
    Duration,
    FeatureName,
    JoinKeyType,
    KubernetesName,
    LabelKey,
    LabelValue,
    MemoryQuantity,
    Name,
    Phrase,
    ScheduleInterval,
    Sha256,
    TagValue,
    Text,
)

API_VERSION = "mlplat/v1"
#: Pseudo-view that model inputs use for values sent with each request (``request:amount``).
REQUEST_VIEW = "request"


def _scalar(value: Any) -> bool | int | float | str:
    # One validator rather than a union, so a wrong value is one error, not one per member.
    if isinstance(value, bool | int | float | str):
        return value
    kinds = {list: "a list", dict: "a mapping", type(None): "nothing (null)"}
    kind = kinds.get(type(value), repr(value))
    raise ValueError(f"expected true or false, a number or text; got {kind}")


Scalar = Annotated[
    bool | int | float | str,
    PlainValidator(_scalar),
    WithJsonSchema({"type": ["boolean", "number", "string"]}),
]
"""A plain YAML value: true/false, a number or text."""
FeatureRef = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z0-9_]*:[a-z][a-z0-9_]*$",
        description="A feature as `view:feature`, or a request value as `request:name`.",
    ),
]
VersionName = Annotated[str, Field(pattern=r"^v[0-9]{1,6}$", description="A version label: `v` and a number.")]


class SpecModel(BaseModel):
    """Base of every spec model: strict keys, camelCase in YAML, frozen once loaded."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        serialize_by_alias=True,
        use_attribute_docstrings=True,
    )


class Metadata(SpecModel):
    """Identity of a spec object, as in Kubernetes."""

    name: Name
    """Unique among objects of the same kind. Becomes Kubernetes names (``_`` -> ``-``) and AWS names, so some kinds take fewer than 32 characters (see Names)."""
    owner: TagValue | None = None
    """Team or person answering for the object (an email or a team handle). Tagged on a Model's and a scheduled FeatureView's AWS resources, so there it must be an AWS tag value: letters, digits, spaces and ``_ . : / = + - @``."""
    description: Text | None = None
    """What the object is, for people reading the catalog."""
    labels: dict[LabelValue, LabelValue] = Field(default_factory=dict)
    """Free-form key/value labels for people and tools reading the catalog; keys and values follow Kubernetes' label syntax."""


# --- Caller -----------------------------------------------------------------------------

CallerName = Annotated[Name, Field(description="A `Caller` object's name.")]


class ServiceAccountRef(SpecModel):
    """The Kubernetes service account whose tokens identify a caller."""

    namespace: KubernetesName
    """Namespace of the service account (the token's ``kubernetes.io.namespace`` claim)."""
    name: KubernetesName
    """Name of the service account (the token's ``kubernetes.io.serviceaccount.name`` claim)."""


class CallerNetwork(SpecModel):
    """Where a caller's connections come from, for the services' NetworkPolicies."""

    namespace: KubernetesName | None = None
    """Namespace of the pods that connect. Left out: the service account's namespace. For a caller outside the cluster, the namespace of the ingress gateway it comes through."""
    pod_labels: Annotated[dict[LabelKey, LabelValue], Field(min_length=1)] | None = None
    """Labels of the pods that connect. Left out: ``mlplat.dev/caller: <name with - for _>``."""


class CallerSpec(SpecModel):
    """A caller's identity and where it connects from."""

    service_account: ServiceAccountRef
    """The service account whose projected tokens (audience of the platform) the caller sends."""
    network: CallerNetwork = Field(default_factory=CallerNetwork)
    """Where its connections come from. Left out: its service account's namespace, pods labelled ``mlplat.dev/caller``."""


class Caller(SpecModel):
    """A workload that calls the platform's services, named by the grants of models, views and push sources."""

    api_version: Literal["mlplat/v1"]
    kind: Literal["Caller"]
    metadata: Metadata
    spec: CallerSpec


# --- Entity -----------------------------------------------------------------------------


class EntitySpec(SpecModel):
    """What an entity is keyed by."""

    join_key: FeatureName
    """Column that identifies the entity in sources and in requests (e.g. ``applicant_id``)."""
    type: JoinKeyType = JoinKeyType.STRING
    """Type of the join key values."""


class Entity(SpecModel):
    """The thing features describe: an applicant, a merchant."""

    api_version: Literal["mlplat/v1"]
    kind: Literal["Entity"]
    metadata: Metadata
    spec: EntitySpec


# --- Source -----------------------------------------------------------------------------


class SourceType(StrEnum):
    """How rows reach a source."""

    BATCH = "batch"
    PUSH = "push"


class SourceSpec(SpecModel):
    """Where a view's offline rows live, or where pushed rows are kept."""

    type: SourceType = SourceType.BATCH
    """``batch``: files written by upstream pipelines. ``push``: rows written through the feature server's ``/push``."""
    path: DataUri | None = None
    """Batch only. Parquet file or directory: ``s3://bucket/key``, or a path relative to the environment's offline root."""
    timestamp_field: FeatureName | None = None
    """Batch only. Column holding each row's event time (when the value became true)."""
    created_timestamp_field: FeatureName | None = None
    """Batch only. Column holding when the row was written; breaks ties between rows with the same event time."""
    batch_source: Name | None = None
    """Push only. The batch source that keeps the offline history of pushed rows."""
    writers: list[CallerName] = Field(default_factory=list)
    """Push only. Callers allowed to push rows to this source. Left out: nobody."""


class Source(SpecModel):
    """A table of timestamped rows: offline history for feature views, or a push target."""

    api_version: Literal["mlplat/v1"]
    kind: Literal["Source"]
    metadata: Metadata
    spec: SourceSpec


# --- FeatureView ------------------------------------------------------------------------


class EntityRef(SpecModel):
    """An entity a view is keyed by, and how its key appears in the view's source."""

    name: Name
    """The ``Entity`` object."""
    column: FeatureName | None = None
    """Source column holding the key. Left out: the entity's ``joinKey``."""
    type: JoinKeyType | None = None
    """Type of the key column in this source. Left out: the entity's type. Must agree with it."""


def _entity_ref_shorthand(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


class Feature(SpecModel):
    """One typed value of a feature view."""

    name: FeatureName
    """Column in the source, and the feature's name in ``view:feature`` references."""
    dtype: DType
    """Value type."""
    description: Text | None = None
    """What the value means, for people and for reason codes that have no phrase of their own."""
    default: Scalar | None = None
    """Value a model uses when the feature is missing or stale and its decision policy says ``useDefault``."""
    reason: Phrase | None = None
    """Short phrase a credit analyst can use when this feature drives a decline (e.g. 'Too many recent credit inquiries')."""


class Materialization(SpecModel):
    """How often the view's latest values are copied into the online store."""

    every: ScheduleInterval
    """Interval between scheduled runs (e.g. ``1h``), in whole minutes: the scheduler's finest step."""
    lateness: Duration | None = None
    """How late rows may arrive after their event time; each run re-reads this much before its watermark. Left out: none."""


Objective = Annotated[StrictFloat, Field(ge=0.5, lt=1)]
"""A service level objective: the share of good events (or good time) over 30 days, e.g. ``0.999``."""


class FeatureViewObjectives(SpecModel):
    """Service level objectives of an online view; alerts burn their error budgets (see ``docs/operations.md``)."""

    freshness: Objective = 0.99
    """Share of time the newest event in the online store is younger than ``maxAge``."""
    max_age: Duration | None = None
    """Age of the newest stored event above which the view counts as stale. Left out: twice ``materialization.every`` (capped at ``ttl``), or ``ttl`` without a schedule."""
    materialization_success: Objective = 0.95
    """Share of scheduled materialization runs that succeed. Only used when the view has a ``materialization`` schedule."""


class Availability(StrEnum):
    """When a view's row could first be read, for point-in-time joins and materialization."""

    WRITTEN = "written"
    EVENT_TIME = "eventTime"


class FeatureViewSpec(SpecModel):
    """Features of one or more entities computed from one source."""

    entities: Annotated[list[Annotated[EntityRef, BeforeValidator(_entity_ref_shorthand)]], Field(min_length=1)]
    """Entities the view is keyed by: names, or objects with ``name``, ``column`` and ``type``."""
    source: Name
    """The ``Source`` the rows come from."""
    ttl: Duration
    """How long a value stays valid after its event time. A value ``ttl`` old or older is served as ``OUTSIDE_MAX_AGE`` and is null in training rows."""
    availability: Availability = Availability.WRITTEN
    """When a row counts as available at time t. ``written``: its event time is at or before t and, when the source has a ``createdTimestampField``, it was written at or before t (what the decision system could have read). ``eventTime``: its event time alone decides, for sources whose created timestamp is not when the row became readable (e.g. history rewritten by a backfill)."""
    online: StrictBool = True
    """Whether values are served from the online store. Models can only use online views."""
    materialization: Materialization | None = None
    """Schedule of copies into the online store. Left out: no scheduled runs (push or manual materialization only)."""
    features: Annotated[list[Feature], Field(min_length=1)]
    """The view's features."""
    objectives: FeatureViewObjectives = Field(default_factory=FeatureViewObjectives)
    """Freshness and materialization objectives (online views only). Left out: the defaults of each field."""
    readers: list[CallerName] = Field(default_factory=list)
    """Callers allowed to read the view's features from the feature server. Left out: nobody (models served by the platform read their views directly)."""


class FeatureView(SpecModel):
    """A set of features, their source, freshness and serving."""

    api_version: Literal["mlplat/v1"]
    kind: Literal["FeatureView"]
    metadata: Metadata
    spec: FeatureViewSpec


# --- FeatureService ---------------------------------------------------------------------


class FeatureServiceSpec(SpecModel):
    """A named list of features that clients request together."""

    features: Annotated[list[FeatureRef], Field(min_length=1)]
    """Features as ``view:feature``."""


class FeatureService(SpecModel):
    """A named feature list, requested by name from the feature server."""

    api_version: Literal["mlplat/v1"]
    kind: Literal["FeatureService"]
    metadata: Metadata
    spec: FeatureServiceSpec


# --- Model ------------------------------------------------------------------------------


class Framework(StrEnum):
    """Library that trained the model; decides the artifact format."""

    XGBOOST = "xgboost"
    LIGHTGBM = "lightgbm"
    ONNX = "onnx"


class ApprovalState(StrEnum):
    """Model-risk governance state of a version."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Approval(SpecModel):
    """Who approved a version for decisions, and under which ticket."""

    state: ApprovalState = ApprovalState.PENDING
    """Only ``approved`` versions may take decisions (primary or canary); any version may run in shadow."""
    by: TagValue | None = None
    """Approver."""
    ticket: TagValue | None = None
    """Change or validation ticket."""


class Artifact(SpecModel):
    """A trained model file, pinned by content."""

    uri: DataUri
    """``s3://bucket/key`` or a path relative to the environment's artifact root. XGBoost ``.json``/``.ubj``, LightGBM ``.txt``, or ``.onnx``."""
    sha256: Sha256
    """Digest of the file; the model server refuses a file that does not match."""


class ModelVersion(SpecModel):
    """One trained version of a model."""

    name: VersionName
    """Version label, e.g. ``v3``."""
    artifact: Artifact
    """The trained file."""
    approval: Approval = Field(default_factory=Approval)
    """Governance state."""


class RequestValue(SpecModel):
    """A value sent with each decision request rather than read from the online store."""

    name: FeatureName
    """Referenced by ``features`` as ``request:<name>``; also a column of the training labels."""
    dtype: DType
    """Value type: a number or a bool (``bool``, ``int32``, ``int64``, ``float32``, ``float64``), since the model server scores every request value."""
    description: Text | None = None
    """What the value means."""


class Canary(SpecModel):
    """A version that takes a share of live decisions."""

    version: VersionName
    """The canary version."""
    percent: Annotated[StrictInt, Field(ge=1, le=50)]
    """Share of decisions (1-50) the canary scores and returns, reported as canary."""


class Shadow(SpecModel):
    """A version scored beside the primary on every request, logged, never returned."""

    version: VersionName
    """The shadow version."""


class Rollout(SpecModel):
    """Which versions serve."""

    primary: VersionName
    """The version that takes decisions."""
    canary: Canary | None = None
    """Left out: no canary."""
    shadow: Shadow | None = None
    """Left out: no shadow."""


class MissingPolicy(StrEnum):
    """What a decision does when a feature is missing or outside its ttl."""

    REFUSE = "refuse"
    USE_DEFAULT = "useDefault"


class Decision(SpecModel):
    """How a score becomes a decision."""

    threshold: Annotated[StrictFloat, Field(gt=0, lt=1)]
    """Scores are probabilities of the bad outcome; at or above the threshold the decision is ``decline``."""
    reason_codes: Annotated[StrictInt, Field(ge=0, le=10)] = 4
    """How many reasons (features pushing the score up most) are returned with each decision. At least 1: a credit decline must come with its reasons, so ``onnx`` models, which cannot give them, take no decisions."""
    on_missing: MissingPolicy = MissingPolicy.REFUSE
    """``refuse``: no decision when a feature is missing or stale. ``useDefault``: use the feature's ``default`` (or let the model treat it as missing) for a missing, stale or null value. ``mlplat train`` fills its training rows the same way."""
    reason_phrases: dict[FeatureRef, Phrase] = Field(default_factory=dict)
    """Phrases per feature that override the feature's own ``reason``."""


class Replicas(SpecModel):
    """Replica bounds; the autoscaler moves between them."""

    min: Annotated[StrictInt, Field(ge=1, le=100)] = 2
    """Fewest replicas."""
    max: Annotated[StrictInt, Field(ge=1, le=200)] = 6
    """Most replicas."""


class Resources(SpecModel):
    """Per-replica resources; requests equal limits so a replica's latency does not depend on its neighbours."""

    cpu: CpuQuantity = "500m"
    """CPU, in cores or millicores."""
    memory: MemoryQuantity = "512Mi"
    """Memory, in Ki, Mi or Gi."""


class ModelObjectives(SpecModel):
    """Service level objectives of a model's decisions; alerts burn their error budgets (see ``docs/operations.md``)."""

    availability: Objective = 0.999
    """Share of decision requests not answered with a 5xx status."""
    latency: Objective = 0.99
    """Share of decision requests answered within ``serving.latencySloMs`` (0.99: the p99 is within it)."""


class Serving(SpecModel):
    """How the model server for this model runs."""

    replicas: Replicas = Field(default_factory=Replicas)
    """Replica bounds."""
    resources: Resources = Field(default_factory=Resources)
    """Per-replica resources."""
    latency_slo_ms: Annotated[StrictInt, Field(ge=1, le=10_000)] = 50
    """Decisions slower than this count against the latency objective (``objectives.latency``: by default 99% answer within it)."""
    objectives: ModelObjectives = Field(default_factory=ModelObjectives)
    """Availability and latency objectives. Left out: the defaults of each field."""
    callers: list[CallerName] = Field(default_factory=list)
    """Callers allowed to take decisions with this model (``POST /v1/decisions/<model>``). Left out: nobody."""
    inference_callers: list[CallerName] = Field(default_factory=list)
    """Callers allowed to score raw vectors and read model metadata over the Open Inference Protocol (``/v2/models/<model>``), which records no decision. Left out: nobody."""


class Training(SpecModel):
    """How ``mlplat train`` builds this model."""

    label_source: Name
    """Batch ``Source`` of labelled events: entity keys, event time, request values and the label. Its timestamps may be in any parquet unit (ns are floored to µs) and naive (read as UTC) or zoned."""
    label: FeatureName
    """Label column (1 = bad outcome)."""
    params: dict[str, Scalar] = Field(default_factory=dict)
    """Parameters passed to the framework's trainer."""
    holdout: Duration = Field(default="30d", validate_default=True)
    """The most recent stretch of events kept out of training for evaluation."""
    label_window: Duration | None = None
    """How long after its event a label's outcome is known (``90d`` for a 90-day default label). Training events whose window runs past the holdout start are left out (an embargo), so no training label sees the holdout period. Left out: no embargo, for labels known at their event time."""
    seed: StrictInt = 7
    """Random seed; the same seed and data give the same artifact."""


class Thresholds(SpecModel):
    """Where a monitored figure asks to be watched, and where it asks for action."""

    watch: Annotated[StrictFloat, Field(gt=0)]
    """At or above it the figure is flagged ``watch``."""
    act: Annotated[StrictFloat, Field(gt=0)]
    """At or above it the figure is flagged ``act`` (must not be below ``watch``)."""


class Monitoring(SpecModel):
    """How ``mlplat monitor`` judges the decisions of this model (see docs/monitoring.md)."""

    window: Duration = Field(default="7d", validate_default=True)
    """Length of a report's window; the previous window of the same length is its comparison."""
    schedule: ScheduleInterval = Field(default="1h", validate_default=True)
    """How often the monitoring job writes this model's report in AWS (EMR Serverless, scheduled like materialization; same syntax as ``materialization.every``, whole minutes). Alerts keep a result for two schedules and call the report missing after two schedules without one. Left out: ``1h``."""
    psi: Thresholds = Field(default_factory=lambda: Thresholds(watch=0.1, act=0.25))
    """Population stability index of each input and of the score, against the training profile and the previous window. Left out: 0.1 watch, 0.25 act (the credit-scoring convention)."""
    approval_rate_shift: Thresholds = Field(default_factory=lambda: Thresholds(watch=0.05, act=0.1))
    """Absolute change of a version's approval rate against the previous window. Left out: 0.05 watch, 0.10 act."""
    missing_share_rise: Thresholds = Field(default_factory=lambda: Thresholds(watch=0.05, act=0.1))
    """Rise of an input's missing share in the window over its missing share in training (the reference profile). Left out: 0.05 watch, 0.10 act."""
    stale_share: Thresholds = Field(default_factory=lambda: Thresholds(watch=0.01, act=0.05))
    """Share of decisions that scored an input older than its view's ttl. Left out: 0.01 watch, 0.05 act."""
    min_realized_auc: Annotated[StrictFloat, Field(gt=0.5, lt=1)] = 0.6
    """Realized AUC of the latest decision month with outcomes below which the model no longer ranks risk well enough. Left out: 0.6."""


class ModelSpec(SpecModel):
    """A scoring model, its inputs, versions and decision policy."""

    framework: Framework
    """Training library and artifact format."""
    features: Annotated[list[FeatureRef], Field(min_length=1)]
    """Model inputs in order: ``view:feature`` or ``request:<name>``."""
    request_values: list[RequestValue] = Field(default_factory=list)
    """Values sent with each request, referenced as ``request:<name>``."""
    versions: Annotated[list[ModelVersion], Field(min_length=1)]
    """Trained versions."""
    rollout: Rollout
    """Which versions serve."""
    decision: Decision
    """Decision policy."""
    serving: Serving = Field(default_factory=Serving)
    """Serving resources."""
    training: Training | None = None
    """How to train. Left out: the model is trained elsewhere and only served."""
    monitoring: Monitoring = Field(default_factory=Monitoring)
    """How its decisions are monitored. Left out: the defaults of each field."""


class Model(SpecModel):
    """A model that scores credit decisions."""

    api_version: Literal["mlplat/v1"]
    kind: Literal["Model"]
    metadata: Metadata
    spec: ModelSpec


SpecObject = Entity | Source | FeatureView | FeatureService | Model | Caller
KINDS: dict[str, type[SpecObject]] = {
    "Entity": Entity,
    "Source": Source,
    "FeatureView": FeatureView,
    "FeatureService": FeatureService,
    "Model": Model,
    "Caller": Caller,
}
