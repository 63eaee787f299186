"""The online store: ElastiCache for Valkey (Redis-compatible), encrypted, TLS, AUTH from Secrets Manager."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from infra import iam_policies, naming
from infra.aws_rules import AUTH_TOKEN_SPECIALS, cache_data_tiering
from infra.components.component import Component
from infra.components.keys import EncryptionKey
from infra.components.network import Network
from infra.config import CacheConfig

REDIS_PORT = 6379
#: Characters of the generated AUTH token (ElastiCache takes 16-128). It draws on letters,
#: digits and only the specials ElastiCache accepts (:data:`infra.aws_rules.AUTH_TOKEN_SPECIALS`),
#: at least one of each kind, as AWS recommends for a strong token.
AUTH_TOKEN_CHARACTERS = 64
#: Secrets Manager keeps a deleted secret's name for its recovery window
#: (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DeleteSecret.html).
SECRET_RECOVERY_DAYS = 30


@dataclass(frozen=True)
class OnlineStoreArgs:
    """The online store."""

    group_id: str
    """Physical replication group id, e.g. ``mlplat-prod-online``."""
    network: Network
    key: EncryptionKey
    config: CacheConfig
    tags: Mapping[str, str]
    protect: bool = True
    """Pulumi ``protect`` on the replication group and its secret; a final snapshot on delete."""


class OnlineStore(Component):
    """A Valkey replication group with a generated AUTH token kept in Secrets Manager."""

    def __init__(self, name: str, args: OnlineStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("OnlineStore", name, args.tags, opts)
        self._args = args
        self.security_group = aws.ec2.SecurityGroup(
            self.child_name("sg"),
            vpc_id=args.network.vpc.id,
            description=f"Clients of {args.group_id}",
            tags=self.tags,
            opts=self.child_opts(),
        )
        token = self._auth_token()
        self.group = self._replication_group(token)
        self.primary_endpoint = self.group.primary_endpoint_address
        self.register_outputs({"primaryEndpoint": self.group.primary_endpoint_address})

    def _auth_token(self) -> pulumi.Output[str]:
        # Generated, never typed: it lives in state only as a secret and is read by
        # clients from Secrets Manager.
        password = random.RandomPassword(
            self.child_name("auth-token"),
            length=AUTH_TOKEN_CHARACTERS,
            special=True,
            override_special=AUTH_TOKEN_SPECIALS,
            min_upper=1,
            min_lower=1,
            min_numeric=1,
            min_special=1,
            opts=self.child_opts(),
        )
        # A name prefix, not a name: a deleted secret keeps its name for the recovery window, so a
        # replacement under the same name would fail until the window ends.
        self.auth_secret = aws.secretsmanager.Secret(
            self.child_name("auth-secret"),
            name_prefix=naming.name_prefix("aws:secretsmanager/secret:Secret", f"{self._args.group_id}/auth-token"),
            description=f"AUTH token of {self._args.group_id}",
            kms_key_id=self._args.key.arn,
            recovery_window_in_days=SECRET_RECOVERY_DAYS,
            tags=self.tags,
            opts=self.child_opts(protect=self._args.protect),
        )
        aws.secretsmanager.SecretVersion(
            self.child_name("auth-secret-value"),
            secret_id=self.auth_secret.id,
            secret_string=password.result,
            opts=self.child_opts(),
        )
        self.auth_secret_arn = self.auth_secret.arn
        return password.result

    def _replication_group(self, token: pulumi.Output[str]) -> aws.elasticache.ReplicationGroup:
        args, config = self._args, self._args.config
        # No name: Pulumi auto-names the group (the provider takes no prefix), so a replacement never collides.
        subnets = aws.elasticache.SubnetGroup(
            self.child_name("subnets"),
            description=f"Private subnets of {args.group_id}",
            subnet_ids=args.network.private_subnet_ids,
            tags=self.tags,
            opts=self.child_opts(),
        )
        failover = config.replicas >= 1
        return aws.elasticache.ReplicationGroup(
            self.child_name("valkey"),
            replication_group_id=args.group_id,
            description=f"mlplat online store ({args.group_id})",
            engine="valkey",
            engine_version=config.engine_version,
            node_type=config.node_type,
            # Required on (and only on) the r6gd nodes, which tier data to SSD (infra.aws_rules); left
            # out elsewhere, as before, so no existing group sees a change of this replace-only input.
            data_tiering_enabled=True if cache_data_tiering(config.node_type) else None,
            num_cache_clusters=1 + config.replicas,
            port=REDIS_PORT,
            subnet_group_name=subnets.name,
            security_group_ids=[self.security_group.id],
            at_rest_encryption_enabled=True,
            kms_key_id=args.key.arn,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            auth_token=token,
            auth_token_update_strategy=config.auth_token_update_strategy,
            automatic_failover_enabled=failover,
            multi_az_enabled=failover,
            snapshot_retention_limit=config.snapshot_retention_days,
            final_snapshot_identifier=self._final_snapshot_identifier() if args.protect else None,
            auto_minor_version_upgrade=True,
            tags=self.tags,
            opts=self.child_opts(protect=args.protect),
        )

    def _final_snapshot_identifier(self) -> pulumi.Output[str]:
        # Unique per replication group: a snapshot name is unique in the account and region, so a
        # fixed name would make the second deletion (or a replacement's) fail.
        suffix = random.RandomId(
            self.child_name("final-snapshot-suffix"),
            byte_length=4,
            keepers={"replicationGroupId": self._args.group_id},
            opts=self.child_opts(),
        )
        return suffix.hex.apply(lambda hex_: f"{self._args.group_id}-final-{hex_}")

    def grant_read_auth_token(self, name: str, role: aws.iam.Role, parent: pulumi.Resource) -> aws.iam.RolePolicy:
        """Let ``role`` read the AUTH token from Secrets Manager (and decrypt it), nothing else."""
        return aws.iam.RolePolicy(
            name,
            role=role.id,
            policy=pulumi.Output.all(self.auth_secret.arn, self._args.key.arn).apply(
                lambda v: iam_policies.document(*iam_policies.read_secrets([v[0]], v[1]))
            ),
            opts=pulumi.ResourceOptions(parent=parent),
        )

    def allow_from(self, label: str, source: aws.ec2.SecurityGroup) -> aws.vpc.SecurityGroupIngressRule:
        """Admit Redis protocol connections from members of ``source`` (and nobody else)."""
        return aws.vpc.SecurityGroupIngressRule(
            self.child_name(f"from-{label}"),
            security_group_id=self.security_group.id,
            referenced_security_group_id=source.id,
            ip_protocol="tcp",
            from_port=REDIS_PORT,
            to_port=REDIS_PORT,
            description=f"Redis protocol from {label}",
            tags=self.tags,
            opts=self.child_opts(),
        )
