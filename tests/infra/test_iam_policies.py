"""IAM and KMS policy documents."""

from __future__ import annotations

import json

from infra import iam_policies


def test_a_read_grant_is_limited_to_its_prefix() -> None:
    statements = iam_policies.s3_read("arn:aws:s3:::b", "fraud/", "arn:key")
    assert statements[0]["Resource"] == "arn:aws:s3:::b/fraud/*"
    assert statements[1]["Condition"] == {"StringLike": {"s3:prefix": ["fraud/*"]}}
    assert statements[2] == {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:key"}


def test_key_policies_let_only_named_services_use_the_key_for_our_account() -> None:
    policy = json.loads(iam_policies.key_policy("123456789012", "aws", "eu-west-1", ["logs"]))
    admin, logs = policy["Statement"]
    assert admin["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert logs["Principal"] == {"Service": "logs.eu-west-1.amazonaws.com"}
    assert logs["Condition"] == {
        "ArnLike": {"kms:EncryptionContext:aws:logs:arn": "arn:aws:logs:eu-west-1:123456789012:*"}
    }
    assert "kms:*" not in logs["Action"]
    only_admin = json.loads(iam_policies.key_policy("123456789012", "aws", "eu-west-1", []))
    assert len(only_admin["Statement"]) == 1


def test_log_writers_describe_groups_on_the_accounts_logs_and_write_only_to_their_group() -> None:
    group = "arn:aws:logs:eu-west-1:123456789012:log-group:/mlplat/jobs"
    write, describe, key = iam_policies.write_logs(f"{group}:*", key_arn="arn:key")
    assert write["Resource"] == [group, f"{group}:*"]
    assert "logs:DescribeLogGroups" not in write["Action"]
    # DescribeLogGroups takes no log-group resource: the account's logs in the region.
    assert describe == {
        "Effect": "Allow",
        "Action": "logs:DescribeLogGroups",
        "Resource": "arn:aws:logs:eu-west-1:123456789012:*",
    }
    assert key == {"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": "arn:key"}
    assert len(iam_policies.write_logs(group)) == 2


def test_a_china_partition_group_keeps_its_partition() -> None:
    _, describe = iam_policies.write_logs("arn:aws-cn:logs:cn-north-1:123456789012:log-group:g")
    assert describe["Resource"] == "arn:aws-cn:logs:cn-north-1:123456789012:*"


def test_job_runs_are_tagged_only_on_their_application() -> None:
    statement = iam_policies.tag_job_runs("arn:aws:emr-serverless:eu-west-1:123456789012:/applications/00abc")
    assert statement == {
        "Effect": "Allow",
        "Action": "emr-serverless:TagResource",
        "Resource": "arn:aws:emr-serverless:eu-west-1:123456789012:/applications/00abc/jobruns/*",
    }
