"""The render-time check: what AWS and Kubernetes would refuse in a rendered resource, beyond its name.

Mocks accept objects of any size; the APIs do not. :func:`resource_limit_problems`
measures a resource as the engine sends it against :mod:`mlplat.object_limits`, the
table ``mlplat validate`` checks the specs against, so a catalog that validates renders
objects that fit, and one the render-time check refuses is one validate refuses too (the
infra tests prove both measure the same objects alike). Names are
:func:`infra.naming.resource_name_problems`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.aws_rules import image_uri_problems
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
    tags = inputs.get("tags")
    if resource_type.startswith("aws:") and isinstance(tags, Mapping):
        problems += tag_problems(tags)
    return [f"{resource_type} {logical_name!r}: {p}" for p in problems]
