"""The render-time check: what AWS and Kubernetes would refuse in a rendered resource, beyond its name.

Mocks accept objects of any size; the APIs do not. :func:`resource_limit_problems`
measures a resource as the engine sends it against :mod:`mlplat.object_limits`, the
table ``mlplat validate`` checks the specs against, so a catalog that validates renders
objects that fit, and one the render-time check refuses is one validate refuses too (the
infra tests prove both measure the same objects alike). Policies are measured too: a KMS key
policy must keep the key manageable, and IAM's character limits hold for each trust policy and
for the inline policies of each role taken together (:func:`role_policy_problems`, across the
stack). Names are :func:`infra.naming.resource_name_problems`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from infra.aws_rules import (
    IAM_QUOTAS_DOC,
    ROLE_INLINE_POLICIES_CHARACTERS,
    ROLE_TRUST_POLICY_CHARACTERS,
    iam_policy_characters,
    image_uri_problems,
    key_policy_problems,
    policy_document_problems,
    published_metric_problem,
)
from mlplat.object_limits import (
    AMP_RULE_NAMESPACE,
    ANNOTATIONS,
    CONFIGMAP_DATA,
    KUBERNETES_OBJECT,
    annotation_bytes,
    configmap_data_bytes,
    label_problems,
    object_bytes,
    tag_problems,
    text_bytes,
)

CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
RULE_GROUPS_NAMESPACE = "aws:amp/ruleGroupNamespace:RuleGroupNamespace"
EMR_APPLICATION = "aws:emrserverless/application:Application"
KMS_KEY = "aws:kms/key:Key"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
IAM_ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
#: The inputs holding IAM policy documents, and which kind of document each is.
POLICY_DOCUMENTS = {
    (ROLE_POLICY, "policy"): "identity",
    (IAM_ROLE, "assumeRolePolicy"): "trust",
    ("aws:s3/bucketPolicy:BucketPolicy", "policy"): "resource",
    ("aws:sns/topicPolicy:TopicPolicy", "policy"): "resource",
    ("aws:ecr/repositoryPolicy:RepositoryPolicy", "policy"): "resource",
    (KMS_KEY, "policy"): "resource",
}


def _metadata_maps(inputs: Mapping[str, Any], field: str) -> list[Mapping[str, str]]:
    """``field`` (labels, annotations) of the object's metadata and its pod template's (both stored with it)."""
    found = []
    for holder in (inputs, ((inputs.get("spec") or {}).get("template") or {})):
        values = (holder.get("metadata") or {}).get(field) if isinstance(holder, Mapping) else None
        if isinstance(values, Mapping):
            found.append(values)
    return found


def _kubernetes_problems(resource_type: str, inputs: Mapping[str, Any]) -> list[str]:
    problems = [KUBERNETES_OBJECT.problem(object_bytes(inputs))]
    problems += [ANNOTATIONS.problem(annotation_bytes(a)) for a in _metadata_maps(inputs, "annotations")]
    if resource_type == CONFIG_MAP:
        problems.append(CONFIGMAP_DATA.problem(configmap_data_bytes(inputs.get("data") or {})))
    found = [p for p in problems if p is not None]
    return found + [p for labels in _metadata_maps(inputs, "labels") for p in label_problems(labels)]


def resource_limit_problems(resource_type: str, logical_name: str, inputs: Mapping[str, Any]) -> list[str]:
    """Every size or tag of the resource that its API would refuse."""
    problems: list[str] = []
    if resource_type.startswith("kubernetes:"):
        problems += _kubernetes_problems(resource_type, inputs)
    if resource_type == RULE_GROUPS_NAMESPACE and isinstance(inputs.get("data"), str):
        problem = AMP_RULE_NAMESPACE.problem(text_bytes(inputs["data"]))
        problems += [problem] if problem is not None else []
    image = (inputs.get("imageConfiguration") or {}).get("imageUri") if resource_type == EMR_APPLICATION else None
    if isinstance(image, str):
        problems += [f"imageConfiguration.imageUri {image!r} {p}" for p in image_uri_problems(image)]
    problems += _policy_problems(resource_type, inputs)
    if resource_type == METRIC_ALARM and isinstance(inputs.get("metricName"), str):
        dimensions = frozenset(inputs.get("dimensions") or {})
        metric = published_metric_problem(str(inputs.get("namespace")), inputs["metricName"], dimensions)
        problems += [metric] if metric is not None else []
    tags = inputs.get("tags")
    if resource_type.startswith("aws:") and isinstance(tags, Mapping):
        problems += tag_problems(tags)
    return [f"{resource_type} {logical_name!r}: {p}" for p in problems]


def _policy_problems(resource_type: str, inputs: Mapping[str, Any]) -> list[str]:
    """A policy document IAM would refuse, a key policy that locks the key, a trust policy over IAM's limit."""
    problems = [
        f"{field}: {problem}"
        for (policy_type, field), kind in POLICY_DOCUMENTS.items()
        if policy_type == resource_type and isinstance(inputs.get(field), str)
        for problem in policy_document_problems(inputs[field], kind)
    ]
    if resource_type == KMS_KEY and isinstance(inputs.get("policy"), str):
        return problems + key_policy_problems(inputs["policy"])
    trust = inputs.get("assumeRolePolicy") if resource_type == IAM_ROLE else None
    if isinstance(trust, str) and iam_policy_characters(trust) > ROLE_TRUST_POLICY_CHARACTERS:
        size = iam_policy_characters(trust)
        return [
            *problems,
            f"the trust policy is {size:,} characters, over IAM's {ROLE_TRUST_POLICY_CHARACTERS:,} ({IAM_QUOTAS_DOC})",
        ]
    return problems


def role_policy_problems(resources: Iterable[tuple[str, str, Mapping[str, Any]]]) -> list[str]:
    """Each role whose inline policies, added up, are over what IAM takes for one role.

    ``resources`` are ``(type, logical name, inputs)`` of a whole stack: the limit is on the
    sum of a role's ``RolePolicy`` documents, which are separate resources (one per grant), so
    a role that gains a grant per spec object (the scheduler's, one per model) can outgrow it
    while every single policy stays small.
    """
    sizes: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for resource_type, logical_name, inputs in resources:
        role, policy = inputs.get("role"), inputs.get("policy")
        if resource_type == ROLE_POLICY and isinstance(role, str) and isinstance(policy, str):
            sizes[role].append((logical_name, iam_policy_characters(policy)))
    return [
        f"{IAM_ROLE} {role!r}: its {len(policies)} inline policies total {sum(s for _, s in policies):,} characters, "
        f"over the {ROLE_INLINE_POLICIES_CHARACTERS:,} IAM takes for one role ({IAM_QUOTAS_DOC}); largest: "
        + ", ".join(f"{name} ({size:,})" for name, size in sorted(policies, key=lambda p: -p[1])[:3])
        for role, policies in sorted(sizes.items())
        if sum(size for _, size in policies) > ROLE_INLINE_POLICIES_CHARACTERS
    ]
