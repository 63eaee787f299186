"""IAM policy documents, built from resolved ARNs.

Each function returns a plain dict; components JSON-encode it inside an ``apply`` once
the ARNs are known. Keeping the documents here lets tests read them without Pulumi.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

Statement = dict[str, Any]

#: The principal EKS Pod Identity assumes roles as.
POD_IDENTITY_PRINCIPAL = "pods.eks.amazonaws.com"


def document(*statements: Statement) -> str:
    """A policy document (JSON) from statements."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, sort_keys=True)


def assume_role(service: str, *, source_account: str | None = None) -> str:
    """Trust policy letting one AWS service assume the role, optionally only for our account."""
    statement: Statement = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if source_account is not None:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": source_account}}
    return document(statement)


def pod_identity_trust() -> str:
    """Trust policy for EKS Pod Identity: the association names the namespace and service account."""
    return document(
        {
            "Effect": "Allow",
            "Principal": {"Service": POD_IDENTITY_PRINCIPAL},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
        }
    )


def s3_read(bucket_arn: str, prefix: str, key_arn: str) -> list[Statement]:
    """Read (and list) only ``prefix`` of a bucket encrypted with ``key_arn``."""
    return [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"], "Resource": f"{bucket_arn}/{prefix}*"},
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket_arn,
            "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}},
        },
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key_arn},
    ]


def s3_write(bucket_arn: str, prefix: str, key_arn: str) -> list[Statement]:
    """Write objects under ``prefix`` of a bucket encrypted with ``key_arn``."""
    return [
        {
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
            "Resource": f"{bucket_arn}/{prefix}*",
        },
        {"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": key_arn},
    ]


def kinesis_put(stream_arn: str, key_arn: str) -> list[Statement]:
    """Put records to one KMS-encrypted stream, nothing else."""
    return [
        {"Effect": "Allow", "Action": ["kinesis:PutRecord", "kinesis:PutRecords"], "Resource": stream_arn},
        {"Effect": "Allow", "Action": "kms:GenerateDataKey", "Resource": key_arn},
    ]


def kinesis_read(stream_arn: str, key_arn: str) -> list[Statement]:
    """Read one KMS-encrypted stream (the archive's delivery stream)."""
    return [
        {
            "Effect": "Allow",
            "Action": [
                "kinesis:DescribeStream",
                "kinesis:GetShardIterator",
                "kinesis:GetRecords",
                "kinesis:ListShards",
            ],
            "Resource": stream_arn,
        },
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key_arn},
    ]


def read_secrets(secret_arns: Sequence[str], key_arn: str) -> list[Statement]:
    """Read the named Secrets Manager secrets."""
    return [
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": list(secret_arns)},
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key_arn},
    ]


def start_job_run(application_arn: str, job_role_arn: str) -> list[Statement]:
    """Start job runs on one EMR Serverless application, passing only the job role."""
    return [
        {"Effect": "Allow", "Action": "emr-serverless:StartJobRun", "Resource": application_arn},
        {
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": job_role_arn,
            "Condition": {"StringLike": {"iam:PassedToService": "emr-serverless.amazonaws.com"}},
        },
    ]


def write_logs(log_group_arn: str) -> list[Statement]:
    """Write log streams of one CloudWatch Logs group (VPC flow logs)."""
    return [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            "Resource": [log_group_arn, f"{log_group_arn}:*"],
        }
    ]


def tls_only_bucket_policy(bucket_arn: str) -> str:
    """Bucket policy refusing any request not made over TLS (FSBP S3.5)."""
    return document(
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, f"{bucket_arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )


def key_policy(account_id: str, partition: str, service_principals: Sequence[str]) -> str:
    """KMS key policy: the account administers the key through IAM; the listed services may use it.

    Services such as CloudWatch (alarms to an encrypted topic) and CloudWatch Logs act
    without an IAM role of ours, so only the key policy can let them use the key.
    """
    statements: list[Statement] = [
        {
            "Sid": "AccountAdministersThroughIam",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    if service_principals:
        statements.append(
            {
                "Sid": "ServicesUseTheKey",
                "Effect": "Allow",
                "Principal": {"Service": sorted(service_principals)},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*", "kms:Encrypt", "kms:ReEncrypt*", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            }
        )
    return document(*statements)
