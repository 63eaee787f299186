"""Per served ``Model``: its monitoring job's role, catalog slice and schedule (see :mod:`infra.model_monitoring`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pulumi
import pulumi_aws as aws

from infra import iam_policies
from infra.components.batch import Batch
from infra.components.buckets import Bucket
from infra.components.component import Component
from infra.model_monitoring import monitoring_job_request
from mlplat.monitoring.archive import ARCHIVE_PREFIX
from mlplat.monitoring.job import model_catalog_key, reports_prefix


@dataclass(frozen=True)
class ModelMonitoringArgs:
    """One model's scheduled monitoring run and what it may touch."""

    model: str
    every: timedelta
    """``spec.monitoring.schedule``."""
    environment: str
    region: str
    role_name: str
    """Logical name of the job role (Pulumi appends a suffix): the name table's."""
    schedule_name: str
    model_catalog: Mapping[str, Any]
    """The model's catalog slice (:func:`infra.model_monitoring.model_catalog`)."""
    label_source_path: str | None
    """The label source's key in the offline bucket (the job reads only it); ``None``: no outcomes."""
    profile_prefix: str
    """Where the versions' profiles are in the artifacts bucket (``<model>/``)."""
    batch: Batch
    artifacts: Bucket
    """Job script and catalog slice under ``_jobs/``, profiles, and the reports prefix (written)."""
    archive: Bucket
    """The decision archive: read under ``decisions/``, decrypted with its key."""
    offline: Bucket
    workspace_arn: pulumi.Input[str]
    prometheus_endpoint: pulumi.Input[str]
    arrival_span_hours: int
    """The decision stream's retention: how far before a window an object holding it may be named."""
    tags: Mapping[str, str]


class ModelMonitoring(Component):
    """A least-privilege job role and an EventBridge Scheduler schedule starting the model's monitoring run."""

    def __init__(self, name: str, args: ModelMonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ModelMonitoring", name, args.tags, opts)
        self._args = args
        self.role = self._role()
        catalog_object = aws.s3.BucketObjectv2(
            self.child_name("catalog"),
            bucket=args.artifacts.bucket.id,
            key=model_catalog_key(args.model),
            content=json.dumps(args.model_catalog, sort_keys=True),
            content_type="application/json",
            tags=self.tags,
            opts=self.child_opts(),
        )
        pass_role = args.batch.allow_scheduling(self.child_name("schedule-pass-role"), self.role, self)
        self.schedule = args.batch.schedule_job_run(
            self.child_name("schedule"),
            schedule_name=args.schedule_name,
            every=args.every,
            request=self._request(),
            opts=self.child_opts(depends_on=[catalog_object, pass_role]),
        )
        self.register_outputs({"scheduleName": self.schedule.name, "roleArn": self.role.arn})

    def _role(self) -> aws.iam.Role:
        args = self._args
        role = aws.iam.Role(
            args.role_name,
            assume_role_policy=aws.get_caller_identity_output().account_id.apply(
                lambda account: iam_policies.assume_role("emr-serverless.amazonaws.com", source_account=account)
            ),
            tags=self.tags,
            opts=self.child_opts(),
        )
        args.archive.grant_read(self.child_name("read-archive"), role, ARCHIVE_PREFIX, self)
        args.artifacts.grant_read(self.child_name("read-jobs"), role, "_jobs/", self)
        args.artifacts.grant_read(self.child_name("read-profiles"), role, args.profile_prefix, self)
        args.artifacts.grant_write(self.child_name("write-reports"), role, reports_prefix(args.model), self)
        if args.label_source_path is not None:
            args.offline.grant_read(self.child_name("read-outcomes"), role, args.label_source_path, self)
        args.batch.grant_job_logging(self.child_name("job"), role, self)
        aws.iam.RolePolicy(
            self.child_name("remote-write"),
            role=role.id,
            policy=pulumi.Output.from_input(args.workspace_arn).apply(
                lambda arn: iam_policies.document(iam_policies.remote_write(arn))
            ),
            opts=self.child_opts(),
        )
        return role

    def _request(self) -> pulumi.Output[str]:
        args = self._args
        return pulumi.Output.all(
            args.batch.application_id,
            self.role.arn,
            args.artifacts.bucket.bucket,
            args.archive.bucket.bucket,
            args.offline.bucket.bucket,
            args.prometheus_endpoint,
        ).apply(
            lambda v: json.dumps(
                monitoring_job_request(
                    application_id=v[0],
                    job_role_arn=v[1],
                    artifacts_bucket=v[2],
                    archive_bucket=v[3],
                    offline_bucket=v[4],
                    prometheus_endpoint=v[5],
                    region=args.region,
                    model=args.model,
                    environment=args.environment,
                    arrival_span_hours=args.arrival_span_hours,
                ),
                sort_keys=True,
            )
        )
