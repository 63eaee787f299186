"""Customer-managed KMS keys, one per purpose, rotated yearly."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import iam_policies
from infra.components.component import Component


@dataclass(frozen=True)
class EncryptionKeyArgs:
    """A symmetric key for one purpose."""

    alias: str
    """Alias without the ``alias/`` prefix, e.g. ``mlplat-prod-data``."""
    description: str
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    region: str
    tags: Mapping[str, str]
    services: Sequence[str] = ()
    """AWS services using the key without an IAM role of ours: ``logs``, ``alarms`` (see :data:`infra.iam_policies.KEY_USERS`). Left out: only IAM principals of the account."""
    protect: bool = True
    """Pulumi ``protect``: a deleted key makes everything it encrypted unreadable."""


class EncryptionKey(Component):
    """A KMS key with rotation on and a 30-day deletion window, and its alias."""

    def __init__(self, name: str, args: EncryptionKeyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("EncryptionKey", name, args.tags, opts)
        policy = pulumi.Output.all(args.account_id, args.partition).apply(
            lambda ids: iam_policies.key_policy(ids[0], ids[1], args.region, args.services)
        )
        self.key = aws.kms.Key(
            self.child_name("key"),
            description=args.description,
            enable_key_rotation=True,
            # The longest window: a key scheduled for deletion by mistake can be cancelled for a month.
            deletion_window_in_days=30,
            policy=policy,
            tags=self.tags,
            opts=self.child_opts(protect=args.protect),
        )
        aws.kms.Alias(
            self.child_name("alias"),
            name=f"alias/{args.alias}",
            target_key_id=self.key.key_id,
            opts=self.child_opts(),
        )
        self.arn = self.key.arn
        self.register_outputs({"arn": self.key.arn})
