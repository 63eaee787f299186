"""The tables and checks of what AWS accepts, row by row."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest

from infra import aws_rules


@pytest.mark.parametrize(
    ("token", "accepted"),
    [
        ("Abcdefgh12345678", True),
        ("A!&#$^<>-" + "b1" * 4, True),
        ("x" * 128, True),
        ("short1A!", False),  # under 16
        ("x" * 129, False),
        ("Abcdefgh12345678%", False),  # % is printable but not allowed
        ("Abcdefgh12345678@", False),
        ('Abcdefgh12345678"', False),
        ("Abcdefgh1234567/", False),
        ("Abcdefgh1234567*", False),  # in the old generator's specials
        ("Abcdefgh 2345678", False),
    ],
)
def test_auth_tokens_follow_the_elasticache_rule(token: str, accepted: bool) -> None:
    assert (aws_rules.auth_token_problems(token) == []) is accepted


@pytest.mark.parametrize(
    ("version", "family"),
    [("8.4", "mysql8.4"), ("8.4.6", "mysql8.4"), ("8.0", "mysql8.0"), ("8.0.42", "mysql8.0")],
)
def test_the_parameter_group_family_follows_the_major_version(version: str, family: str) -> None:
    assert aws_rules.mysql_parameter_group_family(version) == family


@pytest.mark.parametrize("version", ["5.7", "5.7.44", "9.0", "8", "8.4.x", "latest", ""])
def test_unsupported_mysql_versions_are_refused_naming_the_accepted_ones(version: str) -> None:
    with pytest.raises(ValueError, match=re.escape("'8.0', '8.4'")):
        aws_rules.mysql_major_version(version)


@pytest.mark.parametrize(
    ("instance_class", "supported"),
    [
        ("db.t4g.micro", False),
        ("db.t4g.small", False),
        ("db.t3.micro", False),
        ("db.t3.small", False),
        ("db.t2.micro", False),
        ("db.t4g.medium", True),
        ("db.t3.medium", True),
        ("db.m7g.large", True),
        ("db.r7g.xlarge", True),
    ],
)
def test_performance_insights_support_by_instance_class(instance_class: str, supported: bool) -> None:
    assert aws_rules.performance_insights_supported(instance_class) is supported


@pytest.mark.parametrize(
    ("instance_class", "error"),
    [
        ("db.m7g.large", None),
        ("db.t4g.micro", None),
        ("db.r8g.2xlarge", None),
        ("db.t2.micro", "does not run on 'db.t2.micro'"),
        ("db.m4.large", "does not run on"),
        ("m7g.large", "not an RDS instance class"),
        ("cache.m7g.large", "not an RDS instance class"),
    ],
)
def test_rds_instance_classes(instance_class: str, error: str | None) -> None:
    if error is None:
        aws_rules.rds_instance_family(instance_class)
    else:
        with pytest.raises(ValueError, match=error):
            aws_rules.rds_instance_family(instance_class)


@pytest.mark.parametrize(
    ("node_type", "error"),
    [
        ("cache.t4g.micro", None),
        ("cache.m7g.large", None),
        ("cache.r7g.xlarge", None),
        ("cache.t2.micro", "does not run on 'cache.t2.micro'"),
        ("cache.m4.large", "does not run on"),
        ("db.m7g.large", "not an ElastiCache node type"),
    ],
)
def test_cache_node_types(node_type: str, error: str | None) -> None:
    if error is None:
        aws_rules.cache_node_family(node_type)
    else:
        with pytest.raises(ValueError, match=error):
            aws_rules.cache_node_family(node_type)


@pytest.mark.parametrize(
    ("instance_type", "architecture"),
    [
        ("m7i.large", "x86_64"),
        ("m7i-flex.large", "x86_64"),
        ("c7a.xlarge", "x86_64"),
        ("t3.large", "x86_64"),
        ("g5.xlarge", "x86_64"),  # GPU series g, no Graviton option
        ("m5dn.large", "x86_64"),
        ("m7g.large", "arm64"),
        ("c7gn.large", "arm64"),
        ("t4g.medium", "arm64"),
        ("x2gd.large", "arm64"),
        ("g5g.xlarge", "arm64"),
        ("im4gn.large", "arm64"),
        ("a1.large", "arm64"),  # the first Graviton: series a, no option letter
    ],
)
def test_instance_architecture_reads_the_processor_option(instance_type: str, architecture: str) -> None:
    assert aws_rules.instance_architecture(instance_type) == architecture


@pytest.mark.parametrize(
    ("instance_type", "accelerated"),
    [
        ("g5.xlarge", True),
        ("g4dn.xlarge", True),
        ("p5.48xlarge", True),
        ("inf2.xlarge", True),
        ("trn1.2xlarge", True),
        ("gr6.4xlarge", True),
        ("m7i.large", False),
        ("c7i-flex.large", False),
        ("m7gd.large", False),
        ("i4i.large", False),
    ],
)
def test_accelerated_types_are_told_by_their_series(instance_type: str, accelerated: bool) -> None:
    assert aws_rules.accelerated(instance_type) is accelerated


def test_a_malformed_instance_type_is_refused() -> None:
    with pytest.raises(ValueError, match="not an EC2 instance type"):
        aws_rules.instance_architecture("large")


@pytest.mark.parametrize("version", ["1.32", "1.33", "1.34", "1.35"])
def test_offered_eks_versions(version: str) -> None:
    window = aws_rules.eks_version(version)
    assert window.end_of_standard_support < window.end_of_extended_support


@pytest.mark.parametrize("version", ["1.29", "1.31", "1.99", "1.33.0", "v1.33"])
def test_eks_versions_it_does_not_offer_are_refused(version: str) -> None:
    with pytest.raises(ValueError, match="EKS does not offer"):
        aws_rules.eks_version(version)


@pytest.mark.parametrize(
    ("addon", "version", "problem"),
    [
        ("kube-proxy", "v1.33.3-eksbuild.6", None),
        ("vpc-cni", "v1.20.4-eksbuild.1", None),
        ("kube-proxy", "v1.32.6-eksbuild.2", "not for Kubernetes 1.33"),
        ("coredns", "1.12.3", "not an EKS add-on version"),
    ],
)
def test_addon_versions(addon: str, version: str, problem: str | None) -> None:
    found = aws_rules.addon_version_problem(addon, version, "1.33")
    assert (found is None) if problem is None else (found is not None and problem in found)


@pytest.mark.parametrize("days", aws_rules.LOG_RETENTION_DAYS)
def test_every_cloudwatch_retention_period_is_accepted(days: int) -> None:
    assert aws_rules.log_retention_days(days) == days


@pytest.mark.parametrize(("days", "nearest"), [(2, "1 or 3"), (10, "7 or 14"), (366, "365 or 400"), (4000, "3653")])
def test_other_retention_periods_are_refused_naming_the_nearest(days: int, nearest: str) -> None:
    with pytest.raises(ValueError, match=f"nearest: {nearest}"):
        aws_rules.log_retention_days(days)


@pytest.mark.parametrize(
    ("period", "evaluation_periods", "problem"),
    [
        (60, 5, None),
        (10, 3, None),
        (300, 288, None),  # exactly one day
        (3600, 168, None),  # exactly seven days
        (45, 1, "multiple of 60"),
        (300, 289, "1 day"),
        (3600, 169, "7 day"),
        (60, 0, "evaluation range"),
    ],
)
def test_metric_alarm_periods(period: int, evaluation_periods: int, problem: str | None) -> None:
    found = aws_rules.metric_alarm_problems(period, evaluation_periods)
    assert found == [] if problem is None else any(problem in p for p in found), found


_ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


@pytest.mark.parametrize(
    ("uri", "accepted"),
    [
        (f"{_ECR}/mlplat-prod-jobs:0.1.0", True),
        (f"{_ECR}/team/mlplat-prod-jobs:1.4.2_rc-1", True),
        (f"{_ECR}/mlplat-prod-jobs@sha256:{'a' * 64}", True),
        (f"{_ECR}/mlplat-prod-jobs:" + "t" * (1024 - len(f"{_ECR}/mlplat-prod-jobs:")), True),
        (f"{_ECR}/mlplat-prod-jobs:" + "t" * (1025 - len(f"{_ECR}/mlplat-prod-jobs:")), False),  # over 1024
        (f"{_ECR}/mlplat-prod-jobs", False),  # neither tag nor digest
        (f"{_ECR}/mlplat-prod-jobs:-rc1", False),  # a tag starts with a word character
        (f"{_ECR}/Mlplat-Prod-Jobs:0.1.0", False),  # repository names are lower case
        ("public.ecr.aws/emr-serverless/spark/emr-7.9.0:latest", False),  # not a private ECR registry
        ("12345678901.dkr.ecr.eu-west-1.amazonaws.com/mlplat-prod-jobs:0.1.0", False),  # 11-digit account
        (f"{_ECR}/mlplat-prod-jobs@sha256:{'A' * 64}", False),
        ("", False),
    ],
)
def test_image_uris_follow_the_emr_serverless_rule(uri: str, accepted: bool) -> None:
    assert (aws_rules.image_uri_problems(uri) == []) is accepted


def test_an_image_uri_problem_says_what_to_write() -> None:
    (problem,) = aws_rules.image_uri_problems("mlplat-prod-jobs:0.1.0")
    assert "<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>" in problem


@pytest.mark.parametrize(
    ("release", "silent"),
    [("emr-7.9.0", False), ("emr-6.15.0", False), ("emr-7.10.0", True), ("emr-8.0.0", True)],
)
def test_application_id_metrics_stop_at_emr_7_10(release: str, silent: bool) -> None:
    problem = aws_rules.application_id_metrics_problem(release)
    assert (problem is not None) is silent
    assert problem is None or "app-job-metrics.html" in problem


def test_a_release_label_that_is_not_one_is_refused() -> None:
    assert "write it like 'emr-7.9.0'" in str(aws_rules.application_id_metrics_problem("7.9.0"))


@pytest.mark.parametrize("characters", ["{}", '{ "a" :\n\t"b c" }'])
def test_iam_counts_policy_characters_without_white_space(characters: str) -> None:
    assert aws_rules.iam_policy_characters(characters) == len("".join(characters.split()))


@pytest.mark.parametrize(
    ("exports", "parameters"),
    [
        (("error",), {}),
        (("error", "slowquery"), {"slow_query_log": "1", "log_output": "FILE"}),
        (("general", "slowquery"), {"general_log": "1", "slow_query_log": "1", "log_output": "FILE"}),
    ],
)
def test_exported_mysql_logs_need_their_parameters(exports: tuple[str, ...], parameters: dict[str, str]) -> None:
    assert aws_rules.mysql_log_parameters(exports) == parameters


def test_an_export_the_parameter_group_leaves_empty_is_named() -> None:
    (problem,) = aws_rules.mysql_log_export_problems(["error", "slowquery"], {"slow_query_log": "1"})
    assert problem.startswith("exports the slowquery log but the parameter group does not set log_output=FILE")


def test_mysql_has_no_such_log() -> None:
    with pytest.raises(ValueError, match="exports no"):
        aws_rules.mysql_log_parameters(("postgresql",))


def _document(**statement: object) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


READ = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}
TRUST = {"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"}, "Action": "sts:AssumeRole"}


@pytest.mark.parametrize(
    ("statement", "kind", "problem"),
    [
        (READ, "identity", None),
        (TRUST, "trust", None),
        ({**READ, "Condition": {"ForAllValues:StringLikeIfExists": {"s3:prefix": ["a*"]}}}, "identity", None),
        (
            {**READ, "Resource": ["arn:aws:ec2:*:*:network-interface/*", "arn:aws-cn:iam::aws:policy/x"]},
            "identity",
            None,
        ),
        ({**READ, "Resource": ""}, "identity", "resources [''] are neither '*' nor ARNs"),
        ({**READ, "Resource": "mlplat-prod-bucket"}, "identity", "are neither '*' nor ARNs"),
        ({**READ, "Action": "GetObject"}, "identity", "are not <service>:<action>"),
        ({**READ, "Effect": "allow"}, "identity", "not Allow or Deny"),
        ({"Effect": "Allow", "Action": "s3:GetObject"}, "identity", "needs a Resource"),
        ({**READ, "Principal": "*"}, "identity", "an identity policy names no Principal"),
        ({**TRUST, "Principal": None} | {"Principal": None}, "resource", None),
        ({k: v for k, v in TRUST.items() if k != "Principal"}, "trust", "it must name a Principal"),
        (
            {**READ, "Condition": {"StringEqual": {"aws:SourceAccount": "1"}}},
            "identity",
            "['StringEqual'] do not exist",
        ),
        ({**READ, "Condition": {"NullIfExists": {"aws:SourceAccount": "true"}}}, "identity", "do not exist"),
    ],
)
def test_policy_documents_follow_the_iam_grammar(statement: dict[str, object], kind: str, problem: str | None) -> None:
    problems = aws_rules.policy_document_problems(_document(**statement), kind)
    if problem is None:
        assert problems == []
    else:
        (found,) = problems
        assert problem in found
        assert found.endswith("(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html)")


def test_a_policy_document_needs_its_version() -> None:
    (problem,) = aws_rules.policy_document_problems(json.dumps({"Statement": [READ]}), "identity")
    assert problem.startswith("Version must be '2012-10-17'")


@pytest.mark.parametrize(("node_type", "tiering"), [("cache.r6gd.xlarge", True), ("cache.r6g.large", False)])
def test_data_tiering_belongs_to_the_r6gd_nodes(node_type: str, tiering: bool) -> None:
    assert aws_rules.cache_data_tiering(node_type) is tiering


@pytest.mark.parametrize(
    ("on", "note"),
    [
        (date(2026, 7, 29), None),
        (date(2026, 7, 30), "Kubernetes 1.33 is in EKS extended support since 2026-07-29"),
        (date(2026, 12, 1), "upgrade cluster.kubernetesVersion (and the add-ons) to 1.34 or 1.35"),
        (date(2027, 7, 30), "Kubernetes 1.33 left EKS extended support on 2027-07-29"),
    ],
)
def test_eks_support_windows_say_when_a_version_costs_more_or_is_upgraded(on: date, note: str | None) -> None:
    found = aws_rules.eks_support_note("1.33", on)
    assert found is None if note is None else note in str(found)
