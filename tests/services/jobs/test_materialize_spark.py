"""The EMR entry script resolves its catalog, stores and secrets from its arguments and environment."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote

import boto3
import pytest
from moto import mock_aws

from infra.materialization import view_catalog
from mlplat.catalog import Catalog
from mlplat.errors import UsageError
from mlplat.loader import load_catalog
from mlplat.offline.engine import Engine
from mlplat.offline.sources import offline_table
from services.jobs.materialize_spark import (
    auth_token,
    parse_args,
    prepare,
    read_catalog,
    registry_url,
    settings_from_env,
)

ENV = {
    "MLPLAT_ENVIRONMENT": "staging",
    "MLPLAT_OFFLINE_ROOT": "s3://offline-bucket/",
    "MLPLAT_ONLINE_STORE_HOST": "cache.internal",
    "MLPLAT_ONLINE_STORE_PORT": "6380",
    "MLPLAT_ONLINE_STORE_AUTH_SECRET_ARN": "redis-secret",
    "MLPLAT_REGISTRY_HOST": "db.internal",
    "MLPLAT_REGISTRY_SECRET_ARN": "db-secret",
}


@pytest.fixture(scope="module")
def catalog(specs_dir: Path) -> Catalog:
    return load_catalog(specs_dir)


def test_every_missing_variable_is_named() -> None:
    with pytest.raises(UsageError, match="lacks MLPLAT_ONLINE_STORE_HOST, MLPLAT_REGISTRY_SECRET_ARN"):
        settings_from_env(
            {k: v for k, v in ENV.items() if k not in ("MLPLAT_ONLINE_STORE_HOST", "MLPLAT_REGISTRY_SECRET_ARN")}
        )


@pytest.mark.parametrize(
    ("secret", "token"),
    [("plain-token", "plain-token"), ('{"password": "p"}', "p"), ('{"authToken": "t"}', "t")],
)
def test_auth_tokens_in_plain_or_json_secrets(secret: str, token: str) -> None:
    assert auth_token(secret) == token


def test_the_registry_url_escapes_credentials_and_verifies_tls() -> None:
    url = registry_url(settings_from_env(ENV), json.dumps({"username": "admin", "password": "p@ss/word:1"}))
    assert url.startswith("mysql+pymysql://admin:p%40ss%2Fword%3A1@db.internal:3306/registry?")
    assert "ssl_check_hostname=true" in url
    assert unquote(url.split("ssl_ca=")[1].split("&")[0]).endswith("rds-global-bundle.pem")


def test_prepare_reads_the_catalog_slice_and_secrets(catalog: Catalog) -> None:
    args = parse_args(
        [
            "--catalog",
            "s3://artifacts/_jobs/views/bureau_profile.json",
            "--view",
            "bureau_profile",
            "--environment",
            "staging",
            "--start",
            "2025-06-01T00:00:00+00:00",
        ]
    )
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="artifacts")
        body = json.dumps(catalog.to_snapshot()).encode()
        s3.put_object(Bucket="artifacts", Key="_jobs/views/bureau_profile.json", Body=body)
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        secrets.create_secret(Name="redis-secret", SecretString="tok3n")
        secrets.create_secret(Name="db-secret", SecretString=json.dumps({"username": "u", "password": "p"}))
        job = prepare(args, ENV, secrets, s3)
    assert job.catalog.digest == catalog.digest
    assert (job.target.url, job.target.password) == ("rediss://cache.internal:6380/0", "tok3n")
    assert job.registry_url.startswith("mysql+pymysql://u:p@db.internal:3306/registry")
    assert job.options.engine is Engine.SPARK
    assert job.options.data_root == "s3://offline-bucket/"
    assert job.options.start is not None
    assert job.options.start.isoformat() == "2025-06-01T00:00:00+00:00"


def test_prepare_reads_a_local_catalog(catalog: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog.to_snapshot()))
    args = parse_args(["--catalog", str(path), "--view", "merchant_risk", "--environment", "dev"])
    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        secrets.create_secret(Name="redis-secret", SecretString='{"password": "x"}')
        secrets.create_secret(Name="db-secret", SecretString=json.dumps({"username": "u", "password": "p"}))
        job = prepare(args, ENV, secrets, None)
    assert job.view == "merchant_risk"
    assert job.options.end is None


@pytest.mark.parametrize("view", ["application_velocity", "bureau_profile", "merchant_risk", "repayment_history"])
def test_the_job_reads_the_catalog_slice_infra_uploads(catalog: Catalog, tmp_path: Path, view: str) -> None:
    """The contract with infra: its per-view slice is enough to plan the view's materialization."""
    path = tmp_path / f"{view}.json"
    path.write_text(json.dumps(view_catalog(catalog, view)))
    sliced = read_catalog(str(path), None)
    assert offline_table(sliced, view) == offline_table(catalog, view)
