"""The feature server's own settings: its limits, read from MLPLAT_* like the shared ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlplat.catalog import Catalog
from mlplat.cli import app as mlplat_app
from mlplat.errors import StoreUnavailableError, UsageError
from services.cli import app
from services.feature_server.settings import Settings


def test_the_limits_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "MLPLAT_MAX_ENTITIES": "50",
        "MLPLAT_MAX_PUSH_ROWS": "70",
        "MLPLAT_MAX_PUSH_SKEW_SECONDS": "30",
        "MLPLAT_STORE_THREADS": "2",
        "MLPLAT_WORKERS": "3",
    }.items():
        monkeypatch.setenv(name, value)

    settings = Settings.from_environment()

    assert (settings.max_entities, settings.max_push_rows, settings.max_push_skew_seconds) == (50, 70, 30)
    assert (settings.store_threads, settings.workers) == (2, 3)


def test_defaults() -> None:
    settings = Settings()
    assert (settings.max_entities, settings.max_push_rows, settings.max_push_skew_seconds) == (1000, 10000, 300)
    assert (settings.port, settings.workers) == (6566, 1)


def test_a_bad_limit_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLPLAT_MAX_ENTITIES", "many")
    monkeypatch.setenv("MLPLAT_MAX_PUSH_SKEW_SECONDS", "-1")
    with pytest.raises(UsageError) as raised:
        Settings.from_environment()
    assert "MLPLAT_MAX_ENTITIES: Input should be a valid integer" in str(raised.value)
    assert "MLPLAT_MAX_PUSH_SKEW_SECONDS: Input should be greater than or equal to 0" in str(raised.value)


def test_the_catalog_loads_from_a_snapshot_or_a_spec_directory(tmp_path: Path, specs_dir: Path) -> None:
    snapshot = tmp_path / "catalog.json"
    result = CliRunner().invoke(mlplat_app, ["catalog", "snapshot", "--specs", str(specs_dir), "-o", str(snapshot)])

    assert result.exit_code == 0, result.output
    from_file = Settings(catalog=snapshot).load_catalog()
    assert from_file.digest == Settings(catalog=specs_dir).load_catalog().digest
    assert from_file.digest == Catalog.from_snapshot(json.loads(snapshot.read_text())).digest
    with pytest.raises(UsageError, match="neither a catalog snapshot file nor a spec directory"):
        Settings(catalog=tmp_path / "missing.json").load_catalog()
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(UsageError, match="is not JSON"):
        Settings(catalog=tmp_path / "bad.json").load_catalog()


def test_the_auth_token_comes_from_the_environment_or_secrets_manager(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto import mock_aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        import boto3

        arn = boto3.client("secretsmanager").create_secret(Name="mlplat-dev/auth-token", SecretString="t0k3n!#$")["ARN"]

        assert Settings(online_store_auth_secret_arn=arn).store_password() == "t0k3n!#$"
        assert Settings(redis_auth_token="direct", online_store_auth_secret_arn=arn).store_password() == "direct"
        assert Settings().store_password() is None
        with pytest.raises(StoreUnavailableError, match="cannot read the online store AUTH token"):
            Settings(online_store_auth_secret_arn=arn + "-missing").store_password()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_fails_before_listening_on_a_bad_catalog(tmp_path: Path, workers: str) -> None:
    result = CliRunner().invoke(app, ["features", "--specs", str(tmp_path / "missing.json"), "--workers", workers])

    assert result.exit_code == 2
    assert "neither a catalog snapshot file nor a spec directory" in result.output
