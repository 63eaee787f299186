"""Physical names and tags: the public contract of what the platform creates in an account.

Names are derived only from the environment, the purpose and (for spec-driven resources)
the spec's name, so a reader can tell what a resource is from its name alone and the same
stack always produces the same names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlplat.name_limits import (
    AUTONAME_SUFFIX_LENGTH,
    NAME_RULES,
    PREFIX_SUFFIX_LENGTH,
    SNAPSHOT_RULES,
    NameRule,
    name_problems,
)
from mlplat.spec.types import kubernetes_name

PROJECT = "mlplat"
#: Kubernetes namespace the platform's services run in.
SERVICES_NAMESPACE = "mlplat"
MANAGED_BY = "mlplat"


def physical_name(environment: str, *parts: str) -> str:
    """``mlplat-<environment>-<parts...>`` with ``_`` turned into ``-`` (``default_risk`` -> ``default-risk``)."""
    return "-".join([PROJECT, environment, *(kubernetes_name(part) for part in parts)])


def bucket_name(environment: str, purpose: str, account_id: str, region: str) -> str:
    """A globally unique bucket name: the account and region make it unique across AWS."""
    name = f"{physical_name(environment, purpose)}-{account_id}-{region}"
    limit = NAME_RULES["aws:s3/bucket:Bucket"].max_length
    if len(name) > limit:
        raise ValueError(
            f"bucket name {name!r} is {len(name)} characters; S3 allows {limit}, shorten the purpose {purpose!r}"
        )
    return name


#: The node label each managed node group sets, and its two pools: ``system`` runs the
#: cluster add-ons and the feature server, ``serving`` the model servers.
NODE_POOL_LABEL = "mlplat.io/pool"
SYSTEM_POOL = "system"
SERVING_POOL = "serving"

#: The services' images; each has an ECR repository ``mlplat-<stack>-<image>``.
FEATURE_SERVER_IMAGE = "feature-server"
MODEL_SERVER_IMAGE = "model-server"
#: The Spark jobs' image (the EMR Serverless application's runtime), ``mlplat-<stack>-jobs``.
JOBS_IMAGE = "jobs"

#: The Kubernetes service account the feature server runs as.
FEATURE_SERVER_SERVICE_ACCOUNT = "feature-server"


def model_service_account(model: str) -> str:
    """The Kubernetes service account a model's server runs as (``model-default-risk``)."""
    return f"model-{kubernetes_name(model)}"


def platform_tags(environment: str) -> dict[str, str]:
    """Tags on every taggable resource of a stack."""
    return {"environment": environment, "managed-by": MANAGED_BY, "project": PROJECT}


def spec_tags(base: dict[str, str], kind: str, name: str, owner: str | None) -> dict[str, str]:
    """Tags of a resource that exists because of one spec object; ``owner`` when the spec has one."""
    tags = {**base, "mlplat-spec": f"{kind}/{name}"}
    if owner:
        tags["owner"] = owner
    return tags


# --- what AWS accepts as a name -------------------------------------------------------------
#
# The rules themselves are :data:`mlplat.name_limits.NAME_RULES`, the one table ``mlplat
# validate`` reads too; here they are applied to what the program renders.


def physical_name_of(rule: NameRule, logical_name: str, inputs: Mapping[str, Any]) -> str | None:
    """The name AWS will see, with generated suffixes stood in by as many ``0``/``a`` characters.

    ``None`` when nothing names the resource (AWS assigns an id) or the name is not yet known.
    """
    name = _input(inputs, rule.prop)
    if isinstance(name, str):
        return name
    prefix = inputs.get(rule.prefix_prop) if rule.prefix_prop else None
    if isinstance(prefix, str):
        return prefix + "0" * PREFIX_SUFFIX_LENGTH
    if rule.autonamed:
        return f"{logical_name}-" + "a" * (AUTONAME_SUFFIX_LENGTH - 1)
    return None


def _input(inputs: Mapping[str, Any], prop: str) -> Any:
    """The input at ``prop``, a dotted path into nested inputs (``metadata.name``)."""
    value: Any = inputs
    for key in prop.split("."):
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def resource_name_problems(resource_type: str, logical_name: str, inputs: Mapping[str, Any]) -> list[str]:
    """Every name of a resource (its own, its final snapshot's) that AWS or Kubernetes would refuse."""
    problems = []
    for rules in (NAME_RULES, SNAPSHOT_RULES):
        rule = rules.get(resource_type)
        name = physical_name_of(rule, logical_name, inputs) if rule else None
        if rule and name is not None:
            problems += [f"{resource_type} {logical_name!r} {rule.prop}: {p}" for p in name_problems(rule, name)]
    return problems


def name_prefix(resource_type: str, base: str) -> str:
    """``<base>-`` for a ``name_prefix`` input; :class:`ValueError` if the completed name would not fit."""
    rule = NAME_RULES[resource_type]
    prefix = f"{base}-"
    problems = name_problems(rule, prefix + "0" * PREFIX_SUFFIX_LENGTH)
    if problems:
        raise ValueError(f"{resource_type} name prefix {prefix!r}: " + "; ".join(problems))
    return prefix


# --- descriptions and tags ------------------------------------------------------------------

#: Security group descriptions: up to 255 of these characters
#: (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSecurityGroup.html).
SECURITY_GROUP_DESCRIPTION = r"[a-zA-Z0-9. _\-:/()#,@\[\]+=&;{}!$*]{0,255}"
#: Descriptions of security group rules: the same without ``&``
#: (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_IpRange.html).
SECURITY_GROUP_RULE_DESCRIPTION = r"[a-zA-Z0-9. _\-:/()#,@\[\]+=;{}!$*]{0,255}"

# Tags follow :func:`mlplat.object_limits.tag_problems`, the rule ``mlplat validate`` checks the
# tagged spec values (the owner) against.
