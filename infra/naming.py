"""Physical names and tags: the public contract of what the platform creates in an account.

Names are derived only from the environment, the purpose and (for spec-driven resources)
the spec's name, so a reader can tell what a resource is from its name alone and the same
stack always produces the same names.
"""

from __future__ import annotations

from mlplat.name_limits import NAME_LIMITS
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
    limit = NAME_LIMITS["aws:s3/bucket:Bucket"].limit
    if len(name) > limit:
        raise ValueError(
            f"bucket name {name!r} is {len(name)} characters; S3 allows {limit}, shorten the purpose {purpose!r}"
        )
    return name


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
