"""Per ``FeatureView`` with ``spec.materialization``: its catalog slice and its schedule."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.components.batch import Batch
from infra.components.buckets import Bucket
from infra.components.component import Component
from infra.materialization import start_job_run_request, view_catalog_key


@dataclass(frozen=True)
class MaterializationScheduleArgs:
    """One view's scheduled materialization."""

    view: str
    every: timedelta
    environment: str
    schedule_name: str
    view_catalog: Mapping[str, Any]
    """The view's catalog slice (:func:`infra.materialization.view_catalog`)."""
    batch: Batch
    artifacts: Bucket
    job_environment: Mapping[str, pulumi.Input[str]]
    """Environment variables of the job: store endpoints and secret ARNs, never secret values."""
    tags: Mapping[str, str]


class MaterializationSchedule(Component):
    """An EventBridge Scheduler schedule that starts the view's EMR Serverless job run."""

    def __init__(
        self, name: str, args: MaterializationScheduleArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("MaterializationSchedule", name, args.tags, opts)
        catalog_object = aws.s3.BucketObjectv2(
            self.child_name("catalog"),
            bucket=args.artifacts.bucket.id,
            key=view_catalog_key(args.view),
            content=json.dumps(args.view_catalog, sort_keys=True),
            content_type="application/json",
            tags=self.tags,
            opts=self.child_opts(),
        )
        request = pulumi.Output.all(
            args.batch.application_id,
            args.batch.job_role.arn,
            args.artifacts.bucket.bucket,
            pulumi.Output.from_input(dict(args.job_environment)),
        ).apply(
            lambda v: json.dumps(
                start_job_run_request(
                    application_id=v[0],
                    job_role_arn=v[1],
                    artifacts_bucket=v[2],
                    view=args.view,
                    environment=args.environment,
                    job_environment=v[3],
                ),
                sort_keys=True,
            )
        )
        self.schedule = args.batch.schedule_job_run(
            self.child_name("schedule"),
            schedule_name=args.schedule_name,
            every=args.every,
            request=request,
            opts=self.child_opts(depends_on=[catalog_object]),
        )
        self.register_outputs({"scheduleName": self.schedule.name})
