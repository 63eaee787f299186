"""Batch compute: an EMR Serverless Spark application, its job role and the scheduler's role."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

import pulumi
import pulumi_aws as aws

from infra import iam_policies
from infra.components.buckets import Bucket
from infra.components.component import Component
from infra.components.keys import EncryptionKey
from infra.components.network import Network
from infra.config import BatchConfig
from infra.materialization import (
    EMR_RELEASE_LABEL,
    MATERIALIZE_SCRIPT,
    MATERIALIZE_SCRIPT_KEY,
    START_JOB_RUN_TARGET,
    rate_expression,
)
from infra.model_monitoring import MONITOR_SCRIPT, MONITOR_SCRIPT_KEY

LOG_PREFIX = "emr/"


@dataclass(frozen=True)
class BatchArgs:
    """The Spark application and what its jobs may touch."""

    application_name: str
    network: Network
    config: BatchConfig
    key: EncryptionKey
    """Encrypts job logs (S3 and CloudWatch)."""
    logs_key: EncryptionKey
    offline: Bucket
    """Jobs read offline rows here."""
    artifacts: Bucket
    """Jobs read their script and view catalogs under ``_jobs/`` here."""
    logs: Bucket
    """Job logs go under ``emr/``."""
    secret_arns: Sequence[pulumi.Input[str]]
    """Secrets the jobs read (online store AUTH token, registry password)."""
    tags: Mapping[str, str]
    image_uri: pulumi.Input[str] | None = None
    """The job image, ``<repository url>:<tag>`` (``services/jobs/Dockerfile``). Left out: the
    application runs on the plain EMR image of its release, where the jobs cannot import mlplat."""


class Batch(Component):
    """An EMR Serverless application in the private subnets, with least-privilege roles."""

    def __init__(self, name: str, args: BatchArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("Batch", name, args.tags, opts)
        self._args = args
        self.security_group = aws.ec2.SecurityGroup(
            self.child_name("sg"),
            vpc_id=args.network.vpc.id,
            description=f"Spark jobs of {args.application_name}",
            tags=self.tags,
            opts=self.child_opts(),
        )
        aws.vpc.SecurityGroupEgressRule(
            self.child_name("egress"),
            security_group_id=self.security_group.id,
            ip_protocol="-1",
            cidr_ipv4="0.0.0.0/0",
            description="Jobs reach S3, the stores and AWS APIs",
            tags=self.tags,
            opts=self.child_opts(),
        )
        self.application = self._application()
        self.application_id = self.application.id
        self.job_role = self._job_role()
        self.scheduler_role = self._scheduler_role()
        self._upload_script()
        self.register_outputs({"applicationId": self.application.id})

    def _application(self) -> aws.emrserverless.Application:
        args = self._args
        self._log_group = log_group = self.log_group(
            "job-logs", f"/mlplat/{args.application_name}/jobs", args.logs_key.arn, 90
        )
        return aws.emrserverless.Application(
            self.child_name("spark"),
            name=args.application_name,
            type="spark",
            release_label=EMR_RELEASE_LABEL,
            # The job image is built FROM the base image of this release and architecture
            # (https://docs.aws.amazon.com/emr/latest/EMR-Serverless-UserGuide/application-custom-image.html).
            architecture="X86_64",
            image_configuration={"image_uri": args.image_uri} if args.image_uri is not None else None,
            maximum_capacity={"cpu": f"{args.config.max_vcpu} vCPU", "memory": f"{args.config.max_memory_gb} GB"},
            # No pre-initialized workers: the application costs nothing between runs.
            auto_start_configuration={"enabled": True},
            auto_stop_configuration={"enabled": True, "idle_timeout_minutes": args.config.idle_stop_minutes},
            network_configuration={
                "subnet_ids": args.network.private_subnet_ids,
                "security_group_ids": [self.security_group.id],
            },
            monitoring_configuration={
                "s3_monitoring_configuration": {
                    "log_uri": args.logs.bucket.bucket.apply(lambda b: f"s3://{b}/{LOG_PREFIX}"),
                    "encryption_key_arn": args.key.arn,
                },
                "cloudwatch_logging_configuration": {
                    "enabled": True,
                    "log_group_name": log_group.name,
                    "encryption_key_arn": args.logs_key.arn,
                },
            },
            tags=self.tags,
            opts=self.child_opts(),
        )

    def _job_role(self) -> aws.iam.Role:
        args = self._args
        role = aws.iam.Role(
            self.child_name("job-role"),
            assume_role_policy=aws.get_caller_identity_output().account_id.apply(
                lambda account: iam_policies.assume_role("emr-serverless.amazonaws.com", source_account=account)
            ),
            tags=self.tags,
            opts=self.child_opts(),
        )
        args.offline.grant_read(self.child_name("job-read-offline"), role, "", self)
        args.artifacts.grant_read(self.child_name("job-read-jobs"), role, "_jobs/", self)
        self.grant_job_logging(self.child_name("job"), role, self)
        aws.iam.RolePolicy(
            self.child_name("job-read-secrets"),
            role=role.id,
            policy=pulumi.Output.all(args.key.arn, *args.secret_arns).apply(
                lambda v: iam_policies.document(*iam_policies.read_secrets(v[1:], v[0]))
            ),
            opts=self.child_opts(),
        )
        return role

    def grant_job_logging(self, name: str, role: aws.iam.Role, parent: pulumi.Resource) -> None:
        """Let a job role write its run's logs where the application sends them (S3 and CloudWatch)."""
        args = self._args
        args.logs.grant_write(f"{name}-write-logs", role, LOG_PREFIX, parent)
        # The logs bucket itself is SSE-S3, but EMR encrypts the job logs it writes there with
        # the application's key (s3_monitoring_configuration.encryption_key_arn): the job role
        # must be able to generate data keys under it, or the jobs cannot write their logs.
        aws.iam.RolePolicy(
            f"{name}-encrypt-logs",
            role=role.id,
            policy=args.key.arn.apply(lambda arn: iam_policies.document(iam_policies.encrypt_with(arn))),
            opts=pulumi.ResourceOptions(parent=parent),
        )
        aws.iam.RolePolicy(
            f"{name}-write-cloudwatch-logs",
            role=role.id,
            policy=pulumi.Output.all(self._log_group.arn, args.logs_key.arn).apply(
                lambda v: iam_policies.document(*iam_policies.write_logs(v[0], key_arn=v[1]))
            ),
            opts=pulumi.ResourceOptions(parent=parent),
        )

    def allow_scheduling(self, name: str, role: aws.iam.Role, parent: pulumi.Resource) -> aws.iam.RolePolicy:
        """Let the scheduler start runs on the application with ``role`` as their job role (and no other)."""
        return aws.iam.RolePolicy(
            name,
            role=self.scheduler_role.id,
            policy=pulumi.Output.all(self.application.arn, role.arn).apply(
                lambda v: iam_policies.document(*iam_policies.start_job_run(v[0], v[1]))
            ),
            opts=pulumi.ResourceOptions(parent=parent),
        )

    def schedule_job_run(
        self,
        name: str,
        *,
        schedule_name: str,
        every: timedelta,
        request: pulumi.Input[str],
        opts: pulumi.ResourceOptions,
    ) -> aws.scheduler.Schedule:
        """An EventBridge Scheduler schedule in the group that starts ``request`` (a StartJobRun body) every ``every``."""
        return aws.scheduler.Schedule(
            name,
            name=schedule_name,
            group_name=self.schedule_group.name,
            schedule_expression=rate_expression(every),
            flexible_time_window={"mode": "OFF"},
            target={
                "arn": START_JOB_RUN_TARGET,
                "role_arn": self.scheduler_role.arn,
                "input": request,
                # A throttled StartJobRun is retried for up to an hour; the client token keeps it to one run.
                "retry_policy": {"maximum_retry_attempts": 3, "maximum_event_age_in_seconds": 3600},
            },
            state="ENABLED",
            opts=opts,
        )

    def _scheduler_role(self) -> aws.iam.Role:
        role = aws.iam.Role(
            self.child_name("scheduler-role"),
            assume_role_policy=aws.get_caller_identity_output().account_id.apply(
                lambda account: iam_policies.assume_role("scheduler.amazonaws.com", source_account=account)
            ),
            tags=self.tags,
            opts=self.child_opts(),
        )
        aws.iam.RolePolicy(
            self.child_name("scheduler-start-jobs"),
            role=role.id,
            policy=pulumi.Output.all(self.application.arn, self.job_role.arn).apply(
                lambda v: iam_policies.document(
                    *iam_policies.start_job_run(v[0], v[1]), iam_policies.tag_job_runs(v[0])
                )
            ),
            opts=self.child_opts(),
        )
        # EMR Serverless refuses a job run whose submitter may not use the keys its logs are
        # encrypted with (https://docs.aws.amazon.com/emr/latest/EMR-Serverless-UserGuide/jobs-log-encryption.html).
        aws.iam.RolePolicy(
            self.child_name("scheduler-use-log-keys"),
            role=role.id,
            policy=pulumi.Output.all(self._args.key.arn, self._args.logs_key.arn).apply(
                lambda arns: iam_policies.document(*(iam_policies.encrypt_with(arn) for arn in arns))
            ),
            opts=self.child_opts(),
        )
        self.schedule_group = aws.scheduler.ScheduleGroup(
            self.child_name("schedules"),
            name=self._args.application_name,
            tags=self.tags,
            opts=self.child_opts(),
        )
        return role

    def _upload_script(self) -> None:
        # The job scripts are written and tested in services/jobs; upload each when it exists
        # so a checkout without it still previews.
        for child, script, key in (
            ("materialize-script", MATERIALIZE_SCRIPT, MATERIALIZE_SCRIPT_KEY),
            ("monitor-script", MONITOR_SCRIPT, MONITOR_SCRIPT_KEY),
        ):
            if not script.exists():
                pulumi.log.warn(f"{script} not found: its scheduled job has no script to run")
                continue
            aws.s3.BucketObjectv2(
                self.child_name(child),
                bucket=self._args.artifacts.bucket.id,
                key=key,
                source=pulumi.FileAsset(str(script)),
                tags=self.tags,
                opts=self.child_opts(),
            )
