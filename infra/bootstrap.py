"""The bootstrap stack (project ``mlplat-bootstrap``, run once per AWS account by an administrator).

It makes what the deploy workflow needs before any platform stack exists: the Pulumi
state bucket and the KMS key of the stacks' secrets provider, GitHub Actions' OIDC identity
provider, one deploy role per environment (trusted only by jobs of that GitHub
environment) and one preview role (trusted only by pull-request jobs). Its outputs are
what docs/infra.md tells you to put in the GitHub environments' variables and in the
stack files (``cluster.deployRoleArn``, ``cluster.viewerRoleArns``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from infra import deploy_access, iam_policies
from infra.components.buckets import Bucket, BucketArgs
from infra.components.keys import EncryptionKey, EncryptionKeyArgs
from infra.naming import platform_tags

VIEW_ONLY_POLICY = "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"


@dataclass(frozen=True)
class BootstrapConfig:
    """The ``mlplat-bootstrap:*`` config of the account's bootstrap stack."""

    github_repository: str
    """``<owner>/<name>`` of the repository whose workflows deploy."""
    region: str
    environments: Sequence[str] = ("dev", "staging", "prod")
    """One deploy role per environment (and GitHub environment of the same name)."""
    existing_oidc_provider_arn: str | None = None
    """An account holds one OIDC provider per URL: reuse it if GitHub's already exists. Left out: created here."""


@dataclass
class Bootstrap:
    """What :func:`build_bootstrap` made."""

    deploy_roles: dict[str, aws.iam.Role] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)


def bootstrap_config_from_pulumi() -> BootstrapConfig:
    """The running bootstrap stack's config."""
    config = pulumi.Config()
    return BootstrapConfig(
        github_repository=config.require("githubRepository"),
        region=pulumi.Config("aws").require("region"),
        environments=tuple(config.get_object("environments") or ("dev", "staging", "prod")),
        existing_oidc_provider_arn=config.get("existingOidcProviderArn"),
    )


def build_bootstrap(config: BootstrapConfig) -> Bootstrap:
    """The state bucket, the secrets key, the OIDC provider and the deploy and preview roles."""
    tags = {**platform_tags("bootstrap"), "environment": "all"}
    identity = aws.get_caller_identity_output()
    partition = aws.get_partition_output().partition
    key = EncryptionKey(
        "mlplat-pulumi-secrets-key",
        EncryptionKeyArgs(
            alias="mlplat-pulumi-secrets",
            description="Pulumi secrets provider of the mlplat stacks",
            account_id=identity.account_id,
            partition=partition,
            region=config.region,
            tags=tags,
        ),
    )
    state = Bucket(
        "mlplat-pulumi-state",
        BucketArgs(
            bucket_name=identity.account_id.apply(lambda a: f"mlplat-pulumi-state-{a}-{config.region}"),
            key=key,
            tags=tags,
        ),
    )
    provider_arn = _oidc_provider(config, tags)
    made = Bootstrap()
    for environment in config.environments:
        made.deploy_roles[environment] = _deploy_role(config, environment, provider_arn, state, key, tags)
    preview = _preview_role(config, provider_arn, state, key, tags)
    made.outputs = {
        "stateBackendUrl": state.bucket.bucket.apply(lambda b: f"s3://{b}?region={config.region}&awssdk=v2"),
        "secretsProvider": f"awskms://alias/mlplat-pulumi-secrets?region={config.region}",
        "oidcProviderArn": provider_arn,
        "deployRoleArns": {env: role.arn for env, role in made.deploy_roles.items()},
        "previewRoleArn": preview.arn,
    }
    return made


def _oidc_provider(config: BootstrapConfig, tags: dict[str, str]) -> pulumi.Output[str]:
    if config.existing_oidc_provider_arn:
        return pulumi.Output.from_input(config.existing_oidc_provider_arn)
    # IAM trusts GitHub's certificate authority for this URL: no thumbprint to pin and rotate.
    provider = aws.iam.OpenIdConnectProvider(
        "mlplat-github-oidc",
        url=deploy_access.GITHUB_OIDC_URL,
        client_id_lists=[deploy_access.STS_AUDIENCE],
        tags=tags,
    )
    return provider.arn


def _github_role(
    name: str, config: BootstrapConfig, provider_arn: pulumi.Output[str], subjects: Sequence[str], tags: dict[str, str]
) -> aws.iam.Role:
    trust = provider_arn.apply(
        lambda arn: json.dumps(deploy_access.github_trust(arn, config.github_repository, subjects), sort_keys=True)
    )
    # One hour: a deploy longer than that re-requests credentials with a fresh OIDC token.
    return aws.iam.Role(name, name=name, assume_role_policy=trust, max_session_duration=3600, tags=tags)


def _deploy_role(
    config: BootstrapConfig,
    environment: str,
    provider_arn: pulumi.Output[str],
    state: Bucket,
    key: EncryptionKey,
    tags: dict[str, str],
) -> aws.iam.Role:
    name = deploy_access.deploy_role_name(environment)
    role = _github_role(name, config, provider_arn, [f"environment:{environment}"], tags)
    rights = pulumi.Output.all(aws.get_partition_output().partition, aws.get_caller_identity_output().account_id)
    aws.iam.RolePolicy(
        f"{name}-deploy",
        role=role.id,
        policy=rights.apply(
            lambda v: iam_policies.document(*deploy_access.deploy_rights(v[0], v[1], config.region, environment))
        ),
    )
    aws.iam.RolePolicy(
        f"{name}-state",
        role=role.id,
        policy=pulumi.Output.all(state.arn, key.arn).apply(
            lambda arns: iam_policies.document(*deploy_access.state_access(arns[0], arns[1], write=True))
        ),
    )
    return role


def _preview_role(
    config: BootstrapConfig, provider_arn: pulumi.Output[str], state: Bucket, key: EncryptionKey, tags: dict[str, str]
) -> aws.iam.Role:
    name = deploy_access.PREVIEW_ROLE_NAME
    role = _github_role(name, config, provider_arn, ["pull_request"], tags)
    aws.iam.RolePolicyAttachment(f"{name}-view-only", role=role.name, policy_arn=VIEW_ONLY_POLICY)
    account = pulumi.Output.all(aws.get_partition_output().partition, aws.get_caller_identity_output().account_id)
    aws.iam.RolePolicy(
        f"{name}-preview",
        role=role.id,
        policy=pulumi.Output.all(account, state.arn).apply(
            lambda v: iam_policies.document(*deploy_access.preview_rights(v[0][0], v[0][1], v[1]))
        ),
    )
    aws.iam.RolePolicy(
        f"{name}-state",
        role=role.id,
        policy=pulumi.Output.all(state.arn, key.arn).apply(
            lambda arns: iam_policies.document(*deploy_access.state_access(arns[0], arns[1], write=False))
        ),
    )
    return role
