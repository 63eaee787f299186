"""IAM policy documents, built from resolved ARNs.

Each function returns a plain dict; components JSON-encode it inside an ``apply`` once
the ARNs are known. Keeping the documents here lets tests read them without Pulumi.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
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


def pod_identity_trust(cluster_name: str, namespace: str, service_account: str) -> str:
    """Trust policy for EKS Pod Identity, for pods of ``cluster_name`` running as ``namespace/service_account`` only.

    The principal alone would let any Pod Identity association of the account, on any of its
    clusters and for any service account, take the role. EKS Pod Identity tags each session
    with the cluster, namespace and service account, and the conditions require this
    identity's (https://docs.aws.amazon.com/eks/latest/userguide/pod-id-role.html, "Setting
    Conditions"; the tags: https://docs.aws.amazon.com/eks/latest/userguide/pod-id-abac.html).
    """
    return document(
        {
            "Effect": "Allow",
            "Principal": {"Service": POD_IDENTITY_PRINCIPAL},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Condition": {
                "StringEquals": {
                    "aws:RequestTag/eks-cluster-name": cluster_name,
                    "aws:RequestTag/kubernetes-namespace": namespace,
                    "aws:RequestTag/kubernetes-service-account": service_account,
                }
            },
        }
    )


def s3_read(bucket_arn: str, prefix: str, key_arn: str | None) -> list[Statement]:
    """Read (and list) only ``prefix`` of a bucket encrypted with ``key_arn`` (``None``: SSE-S3)."""
    statements: list[Statement] = [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"], "Resource": f"{bucket_arn}/{prefix}*"},
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket_arn,
            "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}},
        },
    ]
    if key_arn is not None:
        statements.append({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key_arn})
    return statements


def s3_write(bucket_arn: str, prefix: str, key_arn: str | None) -> list[Statement]:
    """Write objects under ``prefix`` of a bucket encrypted with ``key_arn`` (``None``: SSE-S3)."""
    statements: list[Statement] = [
        {
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
            "Resource": f"{bucket_arn}/{prefix}*",
        }
    ]
    if key_arn is not None:
        statements.append({"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": key_arn})
    return statements


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


def tag_job_runs(application_arn: str) -> Statement:
    """Tag the job runs of one EMR Serverless application as they start.

    A StartJobRun request that carries ``tags`` is also authorized as
    ``emr-serverless:TagResource`` on the new run, and the run is not created at all when
    the tags cannot be applied (https://docs.aws.amazon.com/emr/latest/EMR-Serverless-UserGuide/tagging-resources.html;
    the Service Authorization Reference lists TagResource under the creating operations,
    https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonemrserverless.html).
    The scheduled requests tag each run with its spec (:func:`infra.materialization.spark_job_request`),
    so without this every scheduled run is refused and nothing fails loudly: no run, no
    failed-jobs alarm. Job runs are ``<application arn>/jobruns/<id>``.
    """
    return {"Effect": "Allow", "Action": "emr-serverless:TagResource", "Resource": f"{application_arn}/jobruns/*"}


#: What EMR Serverless does with a custom image: describe it when the application is created
#: or updated with it, pull its manifest and layers when workers start
#: (https://docs.aws.amazon.com/emr/latest/EMR-Serverless-UserGuide/application-custom-image.html).
EMR_SERVERLESS_IMAGE_ACTIONS = ("ecr:BatchGetImage", "ecr:DescribeImages", "ecr:GetDownloadUrlForLayer")


def emr_serverless_image_pull(application_arn: str) -> str:
    """Repository policy: EMR Serverless may pull the repository's images for one application only.

    The ``aws:SourceArn`` condition keeps the service from pulling on behalf of any other
    application (confused deputy); nothing may push, list or delete.
    """
    return document(
        {
            "Sid": "EmrServerlessPullForOneApplication",
            "Effect": "Allow",
            "Principal": {"Service": "emr-serverless.amazonaws.com"},
            "Action": list(EMR_SERVERLESS_IMAGE_ACTIONS),
            "Condition": {"StringEquals": {"aws:SourceArn": application_arn}},
        }
    )


def remote_write(workspace_arn: str) -> Statement:
    """Push samples to one Managed Prometheus workspace, nothing else (no queries, no rules)."""
    return {"Effect": "Allow", "Action": "aps:RemoteWrite", "Resource": workspace_arn}


def cluster_autoscaler(cluster_name: str) -> list[Statement]:
    """The cluster autoscaler's rights: read every group, resize and shrink only this cluster's.

    EKS tags the Auto Scaling group of every managed node group with
    ``k8s.io/cluster-autoscaler/<cluster>=owned``; the write actions are limited to groups
    with that tag, as the autoscaler's AWS guide recommends
    (kubernetes/autoscaler ``cluster-autoscaler/cloudprovider/aws/README.md``, "Minimal IAM Permissions").
    """
    return [
        {
            "Effect": "Allow",
            "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
            "Resource": "*",
            "Condition": {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}},
        },
        {
            # Describe calls take no resource ARN: IAM allows only "*" for them.
            "Effect": "Allow",
            "Action": [
                "autoscaling:DescribeAutoScalingGroups",
                "autoscaling:DescribeAutoScalingInstances",
                "autoscaling:DescribeLaunchConfigurations",
                "autoscaling:DescribeScalingActivities",
                "autoscaling:DescribeTags",
                "ec2:DescribeImages",
                "ec2:DescribeInstanceTypes",
                "ec2:DescribeLaunchTemplateVersions",
                "ec2:GetInstanceTypesFromInstanceRequirements",
                "eks:DescribeNodegroup",
            ],
            "Resource": "*",
        },
    ]


def write_logs(log_group_arn: str, *, key_arn: str | None = None) -> list[Statement]:
    """Write log streams of one CloudWatch Logs group; with ``key_arn``, also encrypt with the group's key.

    ``logs:DescribeLogGroups`` takes no log-group resource (the Service Authorization
    Reference lists no resource type for it,
    https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatchlogs.html),
    so it is granted on the account's logs in the group's region, as the EMR Serverless
    CloudWatch logging guide does
    (https://docs.aws.amazon.com/emr/latest/EMR-Serverless-UserGuide/logging.html); the
    writes stay on the one group.
    """
    group = log_group_arn.removesuffix(":*")
    partition, region, account = group.split(":")[1], group.split(":")[3], group.split(":")[4]
    statements: list[Statement] = [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            "Resource": [group, f"{group}:*"],
        },
        {
            "Effect": "Allow",
            "Action": "logs:DescribeLogGroups",
            "Resource": f"arn:{partition}:logs:{region}:{account}:*",
        },
    ]
    if key_arn is not None:
        statements.append(encrypt_with(key_arn))
    return statements


def envelope_encryption(key_arn: str) -> Statement:
    """What the EKS cluster role needs to envelope-encrypt Kubernetes secrets with ``key_arn``
    (https://docs.aws.amazon.com/eks/latest/userguide/enable-kms.html; terraform-aws-modules/eks
    attaches the same statement): without it the cluster cannot use the key."""
    return {
        "Effect": "Allow",
        "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"],
        "Resource": key_arn,
    }


def encrypt_with(key_arn: str) -> Statement:
    """Encrypt (and read back) data under one KMS key: what a writer of SSE-KMS objects or
    encrypted logs needs (https://docs.aws.amazon.com/emr/latest/EMR-Serverless-UserGuide/jobs-log-encryption.html)."""
    return {"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": key_arn}


def bucket_policy(bucket_arn: str, *, log_delivery_account: str | None = None) -> str:
    """Bucket policy refusing any request not made over TLS (FSBP S3.5); optionally letting
    S3 deliver the account's server access logs under ``s3/``."""
    statements: list[Statement] = [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, f"{bucket_arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
    if log_delivery_account is not None:
        statements.append(
            {
                "Sid": "S3ServerAccessLogDelivery",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/s3/*",
                "Condition": {"StringEquals": {"aws:SourceAccount": log_delivery_account}},
            }
        )
    return document(*statements)


def key_policy(account_id: str, partition: str, region: str, services: Sequence[str]) -> str:
    """KMS key policy: the account administers the key through IAM; the named services may use it.

    ``services`` are keys of :data:`KEY_USERS`. CloudWatch (alarms publishing to an
    encrypted topic) and CloudWatch Logs act without an IAM role of ours, so only the key
    policy can let them use the key; each is limited to what it needs, for our account.
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
    statements += [KEY_USERS[service](account_id, partition, region) for service in sorted(services)]
    return document(*statements)


def _logs_key_user(account_id: str, partition: str, region: str) -> Statement:
    return {
        "Sid": "CloudWatchLogsEncryptsOurGroups",
        "Effect": "Allow",
        "Principal": {"Service": f"logs.{region}.amazonaws.com"},
        "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
        "Resource": "*",
        "Condition": {
            "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:{partition}:logs:{region}:{account_id}:*"}
        },
    }


def _alarms_key_user(account_id: str, partition: str, region: str) -> Statement:
    return {
        "Sid": "CloudWatchAlarmsPublishToEncryptedTopics",
        "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
    }


#: Services that may be named in :func:`key_policy`, and the statement each gets.
def _prometheus_key_user(account_id: str, partition: str, region: str) -> Statement:
    # Managed Prometheus' Alertmanager publishes to the encrypted alert topic as the service itself.
    # https://docs.aws.amazon.com/prometheus/latest/userguide/AMP-alertmanager-receiver-AMPpermission.html
    return {
        "Sid": "ManagedPrometheusPublishesToEncryptedTopics",
        "Effect": "Allow",
        "Principal": {"Service": "aps.amazonaws.com"},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
    }


KEY_USERS: dict[str, Callable[[str, str, str], Statement]] = {
    "logs": _logs_key_user,
    "alarms": _alarms_key_user,
    "prometheus": _prometheus_key_user,
}


def alert_topic_policy(topic_arn: str, account_id: str, workspace_arn: str) -> str:
    """Who may use the alert topic: the account through IAM, CloudWatch alarms of the account, and
    the one Managed Prometheus workspace whose Alertmanager routes to it (``sns:Publish`` and the
    ``sns:GetTopicAttributes`` it checks first; AMP user guide, "Permission to send alert messages
    to your Amazon SNS topic")."""
    return document(
        {
            "Sid": "AccountManagesThroughIam",
            "Effect": "Allow",
            "Principal": {"AWS": account_id},
            "Action": [
                "sns:GetTopicAttributes",
                "sns:SetTopicAttributes",
                "sns:Subscribe",
                "sns:ListSubscriptionsByTopic",
                "sns:Publish",
            ],
            "Resource": topic_arn,
        },
        {
            "Sid": "CloudWatchAlarmsOfTheAccountPublish",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": topic_arn,
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        },
        {
            "Sid": "ManagedPrometheusAlertmanagerPublishes",
            "Effect": "Allow",
            "Principal": {"Service": "aps.amazonaws.com"},
            "Action": ["sns:Publish", "sns:GetTopicAttributes"],
            "Resource": topic_arn,
            "Condition": {
                "StringEquals": {"aws:SourceAccount": account_id},
                "ArnEquals": {"aws:SourceArn": workspace_arn},
            },
        },
    )
