"""The decision log: a KMS-encrypted Kinesis stream archived by Firehose into an Object Lock bucket.

The model server writes one record per decision to the stream; Firehose batches them into
the archive bucket, where compliance-mode Object Lock keeps each record unchangeable for
the retention period the regulator asks for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import iam_policies
from infra.components.buckets import Bucket
from infra.components.component import Component
from infra.components.keys import EncryptionKey
from infra.config import DecisionLogConfig
from mlplat.monitoring.archive import ARCHIVE_PREFIX, FILE_EXTENSION

#: Firehose's rule for ``FileExtension``
#: (https://docs.aws.amazon.com/firehose/latest/APIReference/API_ExtendedS3DestinationConfiguration.html):
#: the API takes up to 128 characters, the Terraform AWS provider under pulumi-aws checks 50.
FILE_EXTENSION_PATTERN = re.compile(r"^$|\.[0-9a-z!\-_.*'()]+")
FILE_EXTENSION_MAX_LENGTH = 50


def check_file_extension(extension: str) -> str:
    """``extension`` when Firehose takes it as a ``FileExtension``; else the error says why."""
    if len(extension) > FILE_EXTENSION_MAX_LENGTH or not FILE_EXTENSION_PATTERN.fullmatch(extension):
        raise ValueError(
            f"Firehose file extension {extension!r} must match {FILE_EXTENSION_PATTERN.pattern} "
            f"and be at most {FILE_EXTENSION_MAX_LENGTH} characters"
        )
    return extension


@dataclass(frozen=True)
class DecisionLogArgs:
    """The stream and its archive."""

    stream_name: str
    config: DecisionLogConfig
    key: EncryptionKey
    archive: Bucket
    """Bucket created with ``object_lock_days``; records land under ``decisions/``."""
    tags: Mapping[str, str]


class DecisionLog(Component):
    """Kinesis stream + Firehose delivery into the locked archive."""

    def __init__(self, name: str, args: DecisionLogArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("DecisionLog", name, args.tags, opts)
        self._key = args.key
        self.stream = aws.kinesis.Stream(
            self.child_name("stream"),
            name=args.stream_name,
            shard_count=args.config.shards,
            retention_period=args.config.stream_retention_hours,
            encryption_type="KMS",
            kms_key_id=args.key.arn,
            stream_mode_details={"stream_mode": "PROVISIONED"},
            tags=self.tags,
            opts=self.child_opts(),
        )
        self.stream_name = self.stream.name
        self.delivery = self._delivery(args)
        self.register_outputs({"streamName": self.stream.name})

    def _delivery(self, args: DecisionLogArgs) -> aws.kinesis.FirehoseDeliveryStream:
        role = aws.iam.Role(
            self.child_name("delivery-role"),
            assume_role_policy=aws.get_caller_identity_output().account_id.apply(
                lambda account: iam_policies.assume_role("firehose.amazonaws.com", source_account=account)
            ),
            tags=self.tags,
            opts=self.child_opts(),
        )
        read = aws.iam.RolePolicy(
            self.child_name("delivery-read-stream"),
            role=role.id,
            policy=pulumi.Output.all(self.stream.arn, args.key.arn).apply(
                lambda v: iam_policies.document(*iam_policies.kinesis_read(v[0], v[1]))
            ),
            opts=self.child_opts(),
        )
        # The archive bucket is dedicated to this stream: records and error records both land in it.
        write = args.archive.grant_write(self.child_name("delivery-write-archive"), role, "", self)
        # No server_side_encryption block: with a Kinesis source, Firehose keeps the
        # stream's KMS encryption in flight and the objects are encrypted with kms_key_arn.
        # The layout is the one mlplat.monitoring.archive reads: hour prefixes of the oldest
        # record's arrival, one gzip member per object, records delimited by "\n" (the model
        # server puts bare JSON; AppendDelimiterToRecord adds the newline), a fixed extension.
        return aws.kinesis.FirehoseDeliveryStream(
            self.child_name("delivery"),
            name=f"{args.stream_name}-archive",
            destination="extended_s3",
            kinesis_source_configuration={"kinesis_stream_arn": self.stream.arn, "role_arn": role.arn},
            extended_s3_configuration={
                "bucket_arn": args.archive.arn,
                "role_arn": role.arn,
                "prefix": f"{ARCHIVE_PREFIX}!{{timestamp:yyyy/MM/dd/HH}}/",
                "error_output_prefix": "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/",
                "buffering_interval": 60,
                "buffering_size": 64,
                "compression_format": "GZIP",
                "file_extension": check_file_extension(FILE_EXTENSION),
                "processing_configuration": {
                    "enabled": True,
                    "processors": [{"type": "AppendDelimiterToRecord"}],
                },
                "kms_key_arn": args.key.arn,
            },
            tags=self.tags,
            opts=self.child_opts(depends_on=[read, write]),
        )

    def grant_put(self, name: str, role: aws.iam.Role, parent: pulumi.Resource) -> aws.iam.RolePolicy:
        """Let ``role`` put records to the stream, and nothing else."""
        return aws.iam.RolePolicy(
            name,
            role=role.id,
            policy=pulumi.Output.all(self.stream.arn, self._key.arn).apply(
                lambda v: iam_policies.document(*iam_policies.kinesis_put(v[0], v[1]))
            ),
            opts=pulumi.ResourceOptions(parent=parent),
        )
