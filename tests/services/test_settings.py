"""Both services read MLPLAT_* through one settings base: same names, defaults and meanings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlplat.catalog import Catalog
from mlplat.cli import app
from mlplat.errors import StoreUnavailableError, UsageError
from services.cli import app as serve_app
from services.feature_server.settings import Settings as FeatureSettings
from services.model_server.settings import Settings as ModelSettings
from services.settings import ServiceSettings

BOTH = pytest.mark.parametrize("kind", [FeatureSettings, ModelSettings], ids=["feature", "model"])
SHARED = {
    "MLPLAT_CATALOG": "/etc/mlplat/catalog.json",
    "MLPLAT_ONLINE_STORE_URL": "rediss://cache:6379/0",
    "MLPLAT_ONLINE_STORE_NAMESPACE": "prod",
    "MLPLAT_ONLINE_STORE_TIMEOUT": "0.02",
    "MLPLAT_REDIS_AUTH_TOKEN": "s3cret",
    "MLPLAT_ONLINE_STORE_AUTH_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x",
    "AWS_REGION": "eu-west-1",
    "MLPLAT_STORE_RETRY_SECONDS": "0.75",
    "MLPLAT_MAX_BODY_BYTES": "65536",
    "MLPLAT_HOST": "0.0.0.0",
    "MLPLAT_PORT": "9000",
    "MLPLAT_GRACEFUL_SHUTDOWN_SECONDS": "25",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [*SHARED, "MLPLAT_MODEL", "MLPLAT_MODELS", "MLPLAT_DECISION_LOG"]:
        monkeypatch.delenv(name, raising=False)


@BOTH
def test_the_shared_variables_mean_the_same_in_both(
    kind: type[ServiceSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SHARED.items():
        monkeypatch.setenv(name, value)

    settings = kind.from_environment()

    assert settings.catalog == Path("/etc/mlplat/catalog.json")
    assert (settings.online_store_url, settings.online_store_namespace) == ("rediss://cache:6379/0", "prod")
    assert (settings.online_store_timeout, settings.store_retry_seconds) == (0.02, 0.75)
    assert settings.store_password() == "s3cret"  # a given token wins over the secret
    assert settings.aws_region == "eu-west-1"
    assert (settings.max_body_bytes, settings.host, settings.port) == (65536, "0.0.0.0", 9000)
    assert settings.graceful_shutdown_seconds == 25
    assert "s3cret" not in repr(settings)


@BOTH
def test_the_shared_defaults_are_the_same_in_both(kind: type[ServiceSettings]) -> None:
    settings, base = kind(), ServiceSettings()
    shared = set(ServiceSettings.model_fields) - {"port"}
    assert {n: getattr(settings, n) for n in shared} == {n: getattr(base, n) for n in shared}
    assert settings.host == "127.0.0.1"


def test_each_service_has_its_own_port() -> None:
    assert (FeatureSettings().port, ModelSettings().port) == (6566, 8080)


@BOTH
def test_flags_override_the_environment(kind: type[ServiceSettings], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLPLAT_PORT", "9000")
    settings = kind.from_environment(port=9100, host=None)
    assert (settings.port, settings.host) == (9100, "127.0.0.1")


@BOTH
def test_bad_values_name_every_variable(kind: type[ServiceSettings], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLPLAT_ONLINE_STORE_TIMEOUT", "0")
    monkeypatch.setenv("MLPLAT_PORT", "http")

    with pytest.raises(UsageError) as raised:
        kind.from_environment()

    assert "MLPLAT_ONLINE_STORE_TIMEOUT='0': Input should be greater than 0" in str(raised.value)
    assert "MLPLAT_PORT='http': Input should be a valid integer" in str(raised.value)


@BOTH
def test_settings_survive_the_trip_through_the_environment(
    kind: type[ServiceSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = kind(online_store_url="redis://x:6379/0", redis_auth_token="tok3n", aws_region="eu-west-1")  # type: ignore[arg-type]
    for name, value in settings.environment().items():
        monkeypatch.setenv(name, value)
    assert kind.from_environment() == settings


@BOTH
def test_the_catalog_loads_from_a_snapshot_or_a_spec_directory(
    kind: type[ServiceSettings], tmp_path: Path, specs_dir: Path
) -> None:
    snapshot = tmp_path / "catalog.json"
    result = CliRunner().invoke(app, ["catalog", "snapshot", "--specs", str(specs_dir), "-o", str(snapshot)])

    assert result.exit_code == 0, result.output
    from_file = kind(catalog=snapshot).load_catalog()
    assert from_file.digest == kind(catalog=specs_dir).load_catalog().digest
    assert from_file.digest == Catalog.from_snapshot(json.loads(snapshot.read_text())).digest
    with pytest.raises(UsageError, match="neither a catalog snapshot file nor a spec directory"):
        kind(catalog=tmp_path / "missing.json").load_catalog()
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(UsageError, match="is not JSON"):
        kind(catalog=tmp_path / "bad.json").load_catalog()


@BOTH
def test_the_auth_token_comes_from_secrets_manager_when_only_an_arn_is_given(
    kind: type[ServiceSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3
    from moto import mock_aws

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        arn = boto3.client("secretsmanager", region_name="eu-west-1").create_secret(
            Name="mlplat-prod-redis-auth", SecretString="t0k3n!#$"
        )["ARN"]
        with_arn = kind(online_store_auth_secret_arn=arn, aws_region="eu-west-1")  # type: ignore[call-arg]
        assert with_arn.store_password() == "t0k3n!#$"
        assert kind(redis_auth_token="direct", online_store_auth_secret_arn=arn).store_password() == "direct"  # type: ignore[arg-type]
        assert kind().store_password() is None
        missing = kind(online_store_auth_secret_arn=arn + "x", aws_region="eu-west-1")  # type: ignore[call-arg]
        with pytest.raises(StoreUnavailableError, match="cannot read the online store AUTH token"):
            missing.store_password()


@pytest.mark.parametrize("command", [["features", "--workers", "2"], ["features"], ["models"]])
def test_serve_fails_before_listening_on_a_bad_catalog(tmp_path: Path, command: list[str]) -> None:
    result = CliRunner().invoke(serve_app, [*command[:1], "--specs", str(tmp_path / "missing.json"), *command[1:]])

    assert result.exit_code == 2
    assert "neither a catalog snapshot file nor a spec directory" in result.output
