"""How long the names the platform derives from spec names may be, and the limits behind them.

A spec name becomes part of AWS and Kubernetes names, after the prefixes the Pulumi
program adds (``mlplat-<environment>-model-<name>-role``) and, for resources Pulumi names
itself, a random suffix. ``mlplat validate`` checks every spec name against every name
derived from it here, for the longest environment, so a name that validates deploys.
``infra/`` builds its names with the same templates (:func:`derived`), so the two cannot
drift: the lower layer owns the table, the program imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mlplat.spec.types import kubernetes_name

#: The environments a stack can be; names are checked against the longest.
ENVIRONMENTS = ("dev", "staging", "prod")
#: Pulumi's auto-names append ``-`` and 7 random hex characters to the logical name.
AUTONAME_SUFFIX = 8


@dataclass(frozen=True)
class NameLimit:
    """The longest name a resource type takes, and where the limit is documented."""

    limit: int
    source: str


#: Physical name limits of the resource types whose names carry a spec name.
NAME_LIMITS: Mapping[str, NameLimit] = {
    "aws:iam/role:Role": NameLimit(64, "https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html"),
    "aws:iam/rolePolicy:RolePolicy": NameLimit(
        128, "https://docs.aws.amazon.com/IAM/latest/APIReference/API_PutRolePolicy.html"
    ),
    "aws:scheduler/schedule:Schedule": NameLimit(
        64, "https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html"
    ),
    "aws:cloudwatch/metricAlarm:MetricAlarm": NameLimit(
        255, "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html"
    ),
    "aws:s3/bucket:Bucket": NameLimit(
        63, "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html"
    ),
    "emr-serverless:job-run": NameLimit(
        256, "https://docs.aws.amazon.com/emr-serverless/latest/APIReference/API_StartJobRun.html"
    ),
    # A label value and a Service name (DNS-1035 label) take at most 63 characters.
    "kubernetes:label": NameLimit(63, "https://kubernetes.io/docs/concepts/overview/working-with-objects/names/"),
    "kubernetes:core/v1:ConfigMap": NameLimit(
        253, "https://kubernetes.io/docs/concepts/overview/working-with-objects/names/"
    ),
}


@dataclass(frozen=True)
class DerivedName:
    """A name built from a spec object's name: its template, and the limit it must fit."""

    kind: str
    what: str
    template: str
    """``{environment}`` and ``{name}`` (the spec name, ``_`` turned into ``-``) are filled in."""
    limit_of: str
    """Key of :data:`NAME_LIMITS`."""
    autonamed: bool = False
    """Whether Pulumi appends a random suffix (the template is the logical name)."""

    def render(self, environment: str, name: str) -> str:
        return self.template.format(environment=environment, name=kubernetes_name(name))

    def length(self, environment: str, name: str) -> int:
        return len(self.render(environment, name)) + (AUTONAME_SUFFIX if self.autonamed else 0)

    @property
    def limit(self) -> int:
        return NAME_LIMITS[self.limit_of].limit


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
    DerivedName(
        "Model",
        "latency alarm",
        "mlplat-{environment}-model-{name}-latency-p99",
        "aws:cloudwatch/metricAlarm:MetricAlarm",
    ),
    DerivedName("Model", "Kubernetes Deployment, Service and label", "model-{name}", "kubernetes:label"),
    DerivedName("Model", "catalog ConfigMap", "model-{name}-catalog", "kubernetes:core/v1:ConfigMap"),
    DerivedName(
        "FeatureView",
        "materialization schedule",
        "mlplat-{environment}-materialize-{name}",
        "aws:scheduler/schedule:Schedule",
    ),
    DerivedName("FeatureView", "materialization job run", "materialize-{name}", "emr-serverless:job-run"),
)


def derived(what: str) -> DerivedName:
    """The derived name called ``what`` (``"materialization schedule"``)."""
    return next(name for name in DERIVED_NAMES if name.what == what)


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
