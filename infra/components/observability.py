"""Alert routing: a KMS-encrypted SNS topic, its subscriptions, and alarms that publish to it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.alarms import AlarmSpec
from infra.components.component import Component
from infra.components.keys import EncryptionKey


@dataclass(frozen=True)
class ObservabilityArgs:
    """Where alarms go."""

    topic_name: str
    key: EncryptionKey
    """Must let ``cloudwatch.amazonaws.com`` use it, or alarms cannot publish to the encrypted topic."""
    emails: Sequence[str]
    """Subscribed by email; each address confirms once. Left empty: no subscription."""
    tags: Mapping[str, str]


class Observability(Component):
    """The alert topic; :meth:`alarm` creates alarms routed to it."""

    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("Observability", name, args.tags, opts)
        self.topic = aws.sns.Topic(
            self.child_name("alerts"),
            name=args.topic_name,
            kms_master_key_id=args.key.arn,
            tags=self.tags,
            opts=self.child_opts(),
        )
        for index, email in enumerate(args.emails):
            aws.sns.TopicSubscription(
                self.child_name(f"email-{index}"),
                topic=self.topic.arn,
                protocol="email",
                endpoint=email,
                opts=self.child_opts(),
            )
        self.register_outputs({"topicArn": self.topic.arn})

    def alarm(
        self, owner: str, spec: AlarmSpec, tags: Mapping[str, str], parent: pulumi.Resource | None = None
    ) -> aws.cloudwatch.MetricAlarm:
        """An alarm named ``<owner>-<suffix>`` that notifies the topic when it fires and when it clears."""
        name = f"{owner}-{spec.suffix}"
        return aws.cloudwatch.MetricAlarm(
            name,
            name=name,
            namespace=spec.namespace,
            metric_name=spec.metric,
            dimensions=dict(spec.dimensions),
            statistic=spec.statistic,
            period=spec.period,
            evaluation_periods=spec.evaluation_periods,
            threshold=spec.threshold,
            comparison_operator=spec.comparison,
            treat_missing_data=spec.treat_missing_data,
            alarm_description=spec.description,
            alarm_actions=[self.topic.arn],
            ok_actions=[self.topic.arn],
            tags=dict(tags),
            opts=pulumi.ResourceOptions(parent=parent or self),
        )
