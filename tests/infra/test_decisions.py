"""The pure decisions behind the components: subnets, names, schedules, job requests, policies, alarms."""

from __future__ import annotations

import ipaddress
import json
from datetime import timedelta

import pytest

from infra import alarms, iam_policies
from infra.cidrs import carve_subnets
from infra.materialization import (
    EMR_RELEASE_LABEL,
    SPARK_VERSION,
    rate_expression,
    start_job_run_request,
    view_catalog,
)
from infra.naming import bucket_name, model_service_account, physical_name, spec_tags
from mlplat.catalog import Catalog
from tests.infra.harness import REPO


@pytest.mark.parametrize(
    ("vpc", "private", "public"),
    [
        (
            "10.40.0.0/16",
            ["10.40.0.0/18", "10.40.64.0/18", "10.40.128.0/18"],
            ["10.40.192.0/20", "10.40.208.0/20", "10.40.224.0/20"],
        ),
        (
            "10.1.0.0/20",
            ["10.1.0.0/22", "10.1.4.0/22", "10.1.8.0/22"],
            ["10.1.12.0/24", "10.1.13.0/24", "10.1.14.0/24"],
        ),
    ],
)
def test_subnets_are_carved_without_overlap(vpc: str, private: list[str], public: list[str]) -> None:
    plan = carve_subnets(vpc, 3)
    assert (list(plan.private), list(plan.public)) == (private, public)
    networks = [ipaddress.ip_network(c) for c in plan.private + plan.public]
    assert not any(a.overlaps(b) for i, a in enumerate(networks) for b in networks[i + 1 :])


@pytest.mark.parametrize(
    ("every", "expression"),
    [
        (timedelta(minutes=1), "rate(1 minute)"),
        (timedelta(minutes=15), "rate(15 minutes)"),
        (timedelta(minutes=90), "rate(90 minutes)"),
        (timedelta(hours=1), "rate(1 hour)"),
        (timedelta(hours=6), "rate(6 hours)"),
        (timedelta(days=1), "rate(1 day)"),
        (timedelta(weeks=1), "rate(7 days)"),
    ],
)
def test_rate_expressions(every: timedelta, expression: str) -> None:
    assert rate_expression(every) == expression


@pytest.mark.parametrize("every", [timedelta(seconds=30), timedelta(seconds=90)])
def test_sub_minute_schedules_are_refused_with_the_reason(every: timedelta) -> None:
    with pytest.raises(ValueError, match="whole minutes"):
        rate_expression(every)


def test_the_emr_release_ships_the_spark_the_jobs_are_tested_with() -> None:
    assert EMR_RELEASE_LABEL == "emr-7.9.0"
    pins = (REPO / "requirements.txt").read_text().splitlines()
    assert f"pyspark=={SPARK_VERSION}" in pins


def test_a_views_catalog_slice_is_a_loadable_catalog_of_just_what_it_needs() -> None:
    from mlplat.loader import load_catalog

    catalog = load_catalog(REPO / "specs")
    snapshot = view_catalog(catalog, "merchant_risk")
    loaded = Catalog.from_snapshot(snapshot)
    assert list(loaded.feature_views) == ["merchant_risk"]
    assert list(loaded.entities) == ["merchant"]
    assert view_catalog(catalog, "merchant_risk") == snapshot


def test_the_job_request_carries_endpoints_and_secret_arns_never_secrets() -> None:
    request = start_job_run_request(
        application_id="app",
        job_role_arn="arn:role",
        artifacts_bucket="artifacts",
        view="bureau_profile",
        environment="prod",
        job_environment={"MLPLAT_REGISTRY_SECRET_ARN": "arn:secret"},
    )
    spark = request["JobDriver"]["SparkSubmit"]
    assert spark["EntryPoint"] == "s3://artifacts/_jobs/materialize_spark.py"
    assert spark["EntryPointArguments"] == [
        "--catalog",
        "s3://artifacts/_jobs/views/bureau_profile.json",
        "--view",
        "bureau_profile",
        "--environment",
        "prod",
    ]
    assert "spark.emr-serverless.driverEnv.MLPLAT_REGISTRY_SECRET_ARN=arn:secret" in spark["SparkSubmitParameters"]
    assert request["ClientToken"] == "<aws.scheduler.execution-id>"


def test_names_are_deterministic_and_fit_aws_limits() -> None:
    longest = "a" * 32
    assert physical_name("staging", "model", "default_risk") == "mlplat-staging-model-default-risk"
    assert len(physical_name("staging", "model", longest)) <= 64  # IAM role names
    assert (
        bucket_name("prod", "artifacts", "123456789012", "eu-west-1") == "mlplat-prod-artifacts-123456789012-eu-west-1"
    )
    assert len(bucket_name("staging", "decision-archive", "123456789012", "ap-southeast-2")) <= 63
    assert model_service_account("default_risk") == "model-default-risk"
    assert spec_tags({"environment": "dev"}, "Model", "fraud", None) == {
        "environment": "dev",
        "mlplat-spec": "Model/fraud",
    }


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


def test_cache_alarms_cover_each_node_and_lag_only_on_replicas() -> None:
    specs = alarms.cache_alarms("mlplat-prod-online", 3)
    lag = [s.dimensions["CacheClusterId"] for s in specs if s.metric == "ReplicationLag"]
    assert lag == ["mlplat-prod-online-002", "mlplat-prod-online-003"]
    assert {s.dimensions["CacheClusterId"] for s in specs if s.metric == "Evictions"} == {
        "mlplat-prod-online-001",
        "mlplat-prod-online-002",
        "mlplat-prod-online-003",
    }


def test_free_storage_alarms_at_a_tenth_of_the_allocation() -> None:
    free = next(s for s in alarms.database_alarms("db", 100) if s.metric == "FreeStorageSpace")
    assert (free.threshold, free.comparison) == (10 * alarms.GIB, "LessThanThreshold")
