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
