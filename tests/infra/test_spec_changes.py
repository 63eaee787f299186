"""Adding one spec adds exactly its resources and changes nothing else."""

from __future__ import annotations

from typing import Any

import pytest

from infra.rendering import Rendered, diff, render, stack_config
from mlplat.catalog import Catalog
from mlplat.spec.kinds import FeatureView, Model


def _renamed(obj: Any, name: str) -> Any:
    return obj.model_copy(update={"metadata": obj.metadata.model_copy(update={"name": name})})


def _with(catalog: Catalog, extra: Model | FeatureView) -> Catalog:
    return Catalog([*catalog.objects(), extra])


def _diff(before: Rendered, after: Rendered) -> tuple[set[tuple[str, str]], list[tuple[str, str]]]:
    change = diff(before, after)
    assert change.removed == []
    return {(r.type, r.name) for r in change.added}, [(old.type, old.name) for old, _ in change.changed]


K8S_OBJECTS = (
    ("core/v1:ServiceAccount", "serviceaccount", ""),
    ("core/v1:ConfigMap", "configmap", "-catalog"),
    ("apps/v1:Deployment", "deployment", ""),
    ("core/v1:Service", "service", ""),
    ("autoscaling/v2:HorizontalPodAutoscaler", "horizontalpodautoscaler", ""),
    ("policy/v1:PodDisruptionBudget", "poddisruptionbudget", ""),
    ("networking.k8s.io/v1:NetworkPolicy", "networkpolicy", ""),
)
#: A new view is served by the feature server: its catalog slice changes, and the
#: Deployment's catalog digest with it, so its pods roll onto the new catalog.
#: Every new model or online view brings its SLO rules: the one rule namespace is updated in place.
SLO_RULES = ("aws:amp/ruleGroupNamespace:RuleGroupNamespace", "mlplat-prod-monitoring-slo-rules")
FEATURE_SERVER_CATALOG = sorted(
    [
        ("kubernetes:apps/v1:Deployment", "deployment-feature-server"),
        ("kubernetes:core/v1:ConfigMap", "configmap-feature-server-catalog"),
        SLO_RULES,
    ]
)


#: What a model's scheduled monitoring adds: its job role and grants, catalog slice and schedule.
MONITOR_POLICIES = (
    "read-archive",
    "read-jobs",
    "read-profiles",
    "write-reports",
    "read-outcomes",
    "job-write-logs",
    "job-encrypt-logs",
    "job-write-cloudwatch-logs",
    "remote-write",
    "schedule-pass-role",
)


def _monitoring_of(model: str) -> set[tuple[str, str]]:
    prefix = f"mlplat-prod-monitor-{model}"
    return {
        ("mlplat:infra:ModelMonitoring", prefix),
        ("aws:iam/role:Role", prefix),
        ("aws:s3/bucketObjectv2:BucketObjectv2", f"{prefix}-catalog"),
        ("aws:scheduler/schedule:Schedule", f"{prefix}-schedule"),
        *(("aws:iam/rolePolicy:RolePolicy", f"{prefix}-{policy}") for policy in MONITOR_POLICIES),
    }


@pytest.fixture(scope="module")
def prod(stacks: dict[str, Rendered]) -> Rendered:
    return stacks["prod"]


def test_one_more_model_adds_its_role_grants_binding_and_kubernetes_objects_and_updates_the_rules_only(
    example_catalog: Catalog, prod: Rendered
) -> None:
    extra = _renamed(example_catalog.model("fraud"), "fraud_challenger")
    after = render(_with(example_catalog, extra), stack_config("prod"))
    added, changed = _diff(prod, after)
    assert changed == [SLO_RULES]
    prefix = "mlplat-prod-model-fraud-challenger"
    assert added == {
        ("mlplat:infra:ModelServing", prefix),
        ("aws:iam/role:Role", f"{prefix}-role"),
        ("aws:iam/rolePolicy:RolePolicy", f"{prefix}-read-artifacts"),
        ("aws:iam/rolePolicy:RolePolicy", f"{prefix}-put-decisions"),
        ("aws:eks/podIdentityAssociation:PodIdentityAssociation", f"{prefix}-pod-identity"),
        ("aws:iam/rolePolicy:RolePolicy", f"{prefix}-read-auth-token"),
        *((f"kubernetes:{kind}", f"{name}-model-fraud-challenger{suffix}") for kind, name, suffix in K8S_OBJECTS),
        *_monitoring_of("fraud-challenger"),
    }
    assert set(after.outputs["modelRoleArns"]) == {"default_risk", "fraud", "fraud_challenger"}


def test_one_more_scheduled_view_adds_its_schedule_and_catalog_slice_only(
    example_catalog: Catalog, prod: Rendered
) -> None:
    extra = _renamed(example_catalog.feature_view("merchant_risk"), "merchant_risk_daily")
    after = render(_with(example_catalog, extra), stack_config("prod"))
    added, changed = _diff(prod, after)
    assert sorted(changed) == FEATURE_SERVER_CATALOG
    prefix = "mlplat-prod-materialize-merchant-risk-daily"
    assert added == {
        ("mlplat:infra:MaterializationSchedule", prefix),
        ("aws:s3/bucketObjectv2:BucketObjectv2", f"{prefix}-catalog"),
        ("aws:scheduler/schedule:Schedule", f"{prefix}-schedule"),
    }


def test_a_view_without_materialization_only_reaches_the_feature_server(
    example_catalog: Catalog, prod: Rendered
) -> None:
    view = _renamed(example_catalog.feature_view("merchant_risk"), "merchant_risk_pushed")
    unscheduled = view.model_copy(update={"spec": view.spec.model_copy(update={"materialization": None})})
    after = render(_with(example_catalog, unscheduled), stack_config("prod"))
    added, changed = _diff(prod, after)
    assert added == set()
    assert sorted(changed) == FEATURE_SERVER_CATALOG


def test_a_config_change_shows_up_as_changed_inputs_of_exactly_the_affected_resources(
    example_catalog: Catalog, prod: Rendered
) -> None:
    config = stack_config("prod")
    bigger = config.model_copy(
        update={"database": config.database.model_copy(update={"instance_class": "db.m7g.xlarge"})}
    )
    change = diff(prod, render(example_catalog, bigger))
    assert (change.added, change.removed) == ([], [])
    assert [(old.name, new.plain["instanceClass"]) for old, new in change.changed] == [
        ("mlplat-prod-registry-mysql", "db.m7g.xlarge")
    ]
