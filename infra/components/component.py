"""What every mlplat component shares: its type token, child naming, child options and log groups."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

TYPE_PREFIX = "mlplat:infra:"


class Component(pulumi.ComponentResource):
    """A component whose children are named ``<name>-<suffix>`` and parented to it."""

    def __init__(self, kind: str, name: str, tags: Mapping[str, str], opts: pulumi.ResourceOptions | None) -> None:
        super().__init__(f"{TYPE_PREFIX}{kind}", name, None, opts)
        self.name = name
        self.tags = dict(tags)

    def child_name(self, suffix: str) -> str:
        """The logical name of a child: stable, so URNs never change between runs."""
        return f"{self.name}-{suffix}"

    def child_opts(self, *, protect: bool = False, **kwargs: object) -> pulumi.ResourceOptions:
        """Options of a child: parented to this component; ``protect`` for stateful resources."""
        return pulumi.ResourceOptions(parent=self, protect=protect, **kwargs)  # type: ignore[arg-type]

    def log_group(
        self, suffix: str, name: pulumi.Input[str], key_arn: pulumi.Input[str], retention_days: pulumi.Input[int]
    ) -> aws.cloudwatch.LogGroup:
        """The log group ``name``, encrypted with ``key_arn`` and kept ``retention_days``: made before what writes
        to it, which would otherwise make one itself, never expiring and unencrypted."""
        return aws.cloudwatch.LogGroup(
            self.child_name(suffix),
            name=name,
            retention_in_days=retention_days,
            kms_key_id=key_arn,
            tags=self.tags,
            opts=self.child_opts(),
        )
