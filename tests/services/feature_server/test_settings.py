"""Settings come from MLPLAT_* once; mistakes name the variable; workers get the same settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlplat.catalog import Catalog
from mlplat.cli import app as mlplat_app
from mlplat.errors import StoreUnavailableError, UsageError
from services.cli import app
from services.feature_server.main import environment_of, settings_from_environment
from services.feature_server.settings import Settings


def test_environment_is_read_and_overridden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLPLAT_ONLINE_STORE_URL", "rediss://cache:6379/0")
    monkeypatch.setenv("MLPLAT_REDIS_AUTH_TOKEN", "tok3n")
    monkeypatch.setenv("MLPLAT_PORT", "7000")

    settings = settings_from_environment(port=7001, workers=None)

    assert (settings.online_store_url, settings.port, settings.workers) == ("rediss://cache:6379/0", 7001, 1)
    assert "tok3n" not in repr(settings)
    assert environment_of(settings)["MLPLAT_REDIS_AUTH_TOKEN"] == "tok3n"
    assert Settings.model_validate({**settings.model_dump()}) == settings


def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLPLAT_ONLINE_STORE_TIMEOUT", "0")
    monkeypatch.setenv("MLPLAT_MAX_ENTITIES", "many")

    with pytest.raises(UsageError) as raised:
        settings_from_environment()

    assert "MLPLAT_ONLINE_STORE_TIMEOUT: Input should be greater than 0" in str(raised.value)
    assert "MLPLAT_MAX_ENTITIES" in str(raised.value)


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

        assert Settings(online_store_auth_secret_arn=arn).auth_token() == "t0k3n!#$"
        assert Settings(redis_auth_token="direct", online_store_auth_secret_arn=arn).auth_token() == "direct"
        assert Settings().auth_token() is None
        with pytest.raises(StoreUnavailableError, match="cannot read the online store AUTH token"):
            Settings(online_store_auth_secret_arn=arn + "-missing").auth_token()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_fails_before_listening_on_a_bad_catalog(tmp_path: Path, workers: str) -> None:
    result = CliRunner().invoke(app, ["features", "--specs", str(tmp_path / "missing.json"), "--workers", workers])

    assert result.exit_code == 2
    assert "neither a catalog snapshot file nor a spec directory" in result.output
