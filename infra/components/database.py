"""The registry database: RDS for MySQL 8.4 LTS, private, encrypted, TLS-only, password in Secrets Manager."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from infra import iam_policies, naming
from infra.aws_rules import mysql_log_parameters
from infra.components.component import Component
from infra.components.keys import EncryptionKey
from infra.components.network import Network
from infra.config import DatabaseConfig

MYSQL_PORT = 3306
LOG_EXPORTS = ("error", "general", "slowquery")
#: TLS required for every connection (RDS for MySQL instances take 1/0 here, not ON/OFF); utf8mb4 so feature
#: names and reason phrases round-trip; the general and slow query logs written to files, or their exports
#: stay empty (:func:`infra.aws_rules.mysql_log_parameters`); a query slower than a second is slow.
PARAMETERS = {
    "require_secure_transport": "1",
    "character_set_server": "utf8mb4",
    "collation_server": "utf8mb4_0900_ai_ci",
    **mysql_log_parameters(LOG_EXPORTS),
    "long_query_time": "1",
}


@dataclass(frozen=True)
class DatabaseArgs:
    """The registry database."""

    identifier: str
    """Physical RDS identifier, e.g. ``mlplat-prod-registry``."""
    network: Network
    key: EncryptionKey
    """Encrypts storage, Performance Insights and the master password secret."""
    config: DatabaseConfig
    tags: Mapping[str, str]
    protect: bool = True
    """Deletion protection, a final snapshot on delete, and Pulumi ``protect``."""
    logs_key: EncryptionKey | None = None
    """Encrypts the log groups the exported logs go to. Left out (with ``log_retention_days``): RDS
    creates those groups itself on first export, unencrypted and never expiring."""
    log_retention_days: int | None = None
    """Days the exported logs are kept (a CloudWatch Logs retention period)."""


class Database(Component):
    """A MySQL instance reachable only from the security groups passed to :meth:`allow_from`.

    The subnet and parameter groups carry name prefixes and the final snapshot a unique
    suffix, so a replacement is created beside what it replaces and a second deletion does
    not collide with the first one's snapshot.
    """

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("Database", name, args.tags, opts)
        self._args = args
        self.security_group = aws.ec2.SecurityGroup(
            self.child_name("sg"),
            vpc_id=args.network.vpc.id,
            description=f"MySQL clients of {args.identifier}",
            tags=self.tags,
            opts=self.child_opts(),
        )
        subnets = aws.rds.SubnetGroup(
            self.child_name("subnets"),
            name_prefix=naming.name_prefix("aws:rds/subnetGroup:SubnetGroup", args.identifier),
            subnet_ids=args.network.private_subnet_ids,
            tags=self.tags,
            opts=self.child_opts(),
        )
        family = args.config.parameter_group_family
        # A new family (a major version upgrade) replaces the group: the prefix lets the new one
        # exist beside the old until the instance has moved to it.
        parameters = aws.rds.ParameterGroup(
            self.child_name("parameters"),
            name_prefix=naming.name_prefix(
                "aws:rds/parameterGroup:ParameterGroup", f"{args.identifier}-{family.replace('.', '-')}"
            ),
            family=family,
            parameters=[{"name": k, "value": v} for k, v in PARAMETERS.items()],
            tags=self.tags,
            opts=self.child_opts(),
        )
        self._log_groups = self._export_log_groups()
        self.instance = self._instance(subnets, parameters, *self._monitoring_role())
        self.endpoint = self.instance.endpoint
        self.address = self.instance.address
        #: ARN of the Secrets Manager secret RDS keeps the master password in (rotated by RDS).
        self.master_secret_arn: pulumi.Output[str] = self.instance.master_user_secrets.apply(
            lambda s: (s[0].secret_arn or "") if s else ""
        )
        self.register_outputs({"endpoint": self.instance.endpoint})

    def _export_log_groups(self) -> list[aws.cloudwatch.LogGroup]:
        """The groups RDS exports each log to (``/aws/rds/instance/<id>/<log>``), made first with our key and
        retention: RDS writes into an existing group, and makes a never-expiring, unencrypted one otherwise
        (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_LogAccess.MySQLDB.PublishtoCloudWatchLogs.html)."""
        args = self._args
        if args.logs_key is None or args.log_retention_days is None:
            return []
        return [
            self.log_group(
                f"{log}-logs", f"/aws/rds/instance/{args.identifier}/{log}", args.logs_key.arn, args.log_retention_days
            )
            for log in LOG_EXPORTS
        ]

    def _monitoring_role(self) -> tuple[aws.iam.Role, aws.iam.RolePolicyAttachment]:
        role = aws.iam.Role(
            self.child_name("monitoring-role"),
            assume_role_policy=iam_policies.assume_role("monitoring.rds.amazonaws.com"),
            tags=self.tags,
            opts=self.child_opts(),
        )
        attachment = aws.iam.RolePolicyAttachment(
            self.child_name("monitoring-policy"),
            role=role.name,
            policy_arn=aws.iam.ManagedPolicy.AMAZON_RDS_ENHANCED_MONITORING_ROLE,
            opts=self.child_opts(),
        )
        return role, attachment

    def _instance(
        self,
        subnets: aws.rds.SubnetGroup,
        parameters: aws.rds.ParameterGroup,
        monitoring: aws.iam.Role,
        monitoring_policy: aws.iam.RolePolicyAttachment,
    ) -> aws.rds.Instance:
        args, config = self._args, self._args.config
        return aws.rds.Instance(
            self.child_name("mysql"),
            identifier=args.identifier,
            engine="mysql",
            engine_version=config.engine_version,
            # engineVersion is the one pinned, reviewed statement of the major version: moving it
            # (8.0 -> 8.4) is the upgrade, and RDS refuses a major upgrade without this flag
            # (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBInstance.html).
            allow_major_version_upgrade=True,
            instance_class=config.instance_class,
            allocated_storage=config.allocated_storage_gb,
            max_allocated_storage=config.max_allocated_storage_gb,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=args.key.arn,
            db_name="registry",
            username="mlplat_admin",
            # RDS generates the password, keeps it in Secrets Manager and rotates it: it never
            # appears in config, state or outputs.
            manage_master_user_password=True,
            master_user_secret_kms_key_id=args.key.arn,
            iam_database_authentication_enabled=True,
            db_subnet_group_name=subnets.name,
            parameter_group_name=parameters.name,
            vpc_security_group_ids=[self.security_group.id],
            publicly_accessible=False,
            multi_az=config.multi_az,
            backup_retention_period=config.backup_retention_days,
            copy_tags_to_snapshot=True,
            auto_minor_version_upgrade=True,
            deletion_protection=args.protect,
            skip_final_snapshot=not args.protect,
            final_snapshot_identifier=self._final_snapshot_identifier(),
            # Not every class has Performance Insights (see infra.aws_rules); a key is only valid with it on.
            performance_insights_enabled=config.performance_insights_enabled,
            performance_insights_kms_key_id=args.key.arn if config.performance_insights_enabled else None,
            monitoring_interval=60,
            monitoring_role_arn=monitoring.arn,
            enabled_cloudwatch_logs_exports=list(LOG_EXPORTS),
            tags=self.tags,
            # RDS checks the monitoring role's permissions when it creates the instance: the
            # managed policy must be attached first, or CreateDBInstance fails.
            opts=self.child_opts(protect=args.protect, depends_on=[monitoring_policy, *self._log_groups]),
        )

    def _final_snapshot_identifier(self) -> pulumi.Output[str]:
        # Snapshot identifiers are unique in the account and region; a fixed one would make the
        # deletion of a second instance under the same identifier fail.
        suffix = random.RandomId(
            self.child_name("final-snapshot-suffix"),
            byte_length=4,
            keepers={"identifier": self._args.identifier},
            opts=self.child_opts(),
        )
        return suffix.hex.apply(lambda hex_: f"{self._args.identifier}-final-{hex_}")

    def allow_from(self, label: str, source: aws.ec2.SecurityGroup) -> aws.vpc.SecurityGroupIngressRule:
        """Admit MySQL connections from members of ``source`` (and nobody else)."""
        return aws.vpc.SecurityGroupIngressRule(
            self.child_name(f"from-{label}"),
            security_group_id=self.security_group.id,
            referenced_security_group_id=source.id,
            ip_protocol="tcp",
            from_port=MYSQL_PORT,
            to_port=MYSQL_PORT,
            description=f"MySQL from {label}",
            tags=self.tags,
            opts=self.child_opts(),
        )
