"""Settings come from the environment once; a bad value names its variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.model_server.decision_log import Durability
from services.model_server.settings import Settings, SettingsError


def test_defaults_suit_one_laptop() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.kinesis_stream is None
    assert settings.decision_log == "decisions"
    assert settings.artifact_root == "models"
    assert settings.online_store_timeout_s == 0.05


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "MLPLAT_CATALOG": "/etc/mlplat/catalog.json",
            "MLPLAT_MODELS": "default_risk, fraud",
            "MLPLAT_ARTIFACT_ROOT": "s3://mlplat-prod-artifacts",
            "MLPLAT_S3_ENDPOINT_URL": "https://s3.eu-west-1.amazonaws.com",
            "AWS_REGION": "eu-west-1",
            "MLPLAT_ONLINE_STORE_URL": "rediss://cache:6379/0",
            "MLPLAT_ONLINE_STORE_NAMESPACE": "prod",
            "MLPLAT_ONLINE_STORE_TIMEOUT": "0.02",
            "MLPLAT_REDIS_AUTH_TOKEN": "s3cret",
            "MLPLAT_STORE_RETRY_SECONDS": "0.5",
            "MLPLAT_DECISION_LOG": "kinesis://mlplat-prod-decisions",
            "MLPLAT_DECISION_LOG_DURABILITY": "write",
            "MLPLAT_DECISION_LOG_SEGMENT_BYTES": "1048576",
            "MLPLAT_PORT": "9000",
            "MLPLAT_HOST": "0.0.0.0",
            "MLPLAT_SCORING_THREADS": "2",
            "MLPLAT_GRACEFUL_SHUTDOWN_SECONDS": "25",
        }
    )
    assert settings.catalog == Path("/etc/mlplat/catalog.json")
    assert settings.models == ("default_risk", "fraud")
    assert settings.artifact_root == "s3://mlplat-prod-artifacts"
    assert (settings.online_store_timeout_s, settings.store_retry_s) == (0.02, 0.5)
    assert settings.redis_auth_token == "s3cret"
    assert "s3cret" not in repr(settings)
    assert settings.kinesis_stream == "mlplat-prod-decisions"
    assert settings.decision_log_durability is Durability.WRITE
    assert settings.decision_log_segment_bytes == 1 << 20
    assert (settings.host, settings.port, settings.aws_region) == ("0.0.0.0", 9000, "eu-west-1")
    assert (settings.scoring_threads, settings.graceful_shutdown_s) == (2, 25.0)


def test_one_model_per_deployment() -> None:
    assert Settings.from_env({"MLPLAT_MODEL": "fraud", "MLPLAT_MODELS": "a,b"}).models == ("fraud",)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MLPLAT_PORT": "http"}, "MLPLAT_PORT='http' is not a whole number"),
        ({"MLPLAT_PORT": "70000"}, "MLPLAT_PORT='70000' is not a port"),
        ({"MLPLAT_SCORING_THREADS": "-1"}, "MLPLAT_SCORING_THREADS='-1' is not a whole number of 0 or more"),
        ({"MLPLAT_ONLINE_STORE_TIMEOUT": "0"}, "MLPLAT_ONLINE_STORE_TIMEOUT='0' must be more than 0 seconds"),
        ({"MLPLAT_STORE_RETRY_SECONDS": "soon"}, "MLPLAT_STORE_RETRY_SECONDS='soon' is not a number of seconds"),
        ({"MLPLAT_DECISION_LOG": "kinesis://"}, "MLPLAT_DECISION_LOG='kinesis://': give a directory or kinesis://"),
        (
            {"MLPLAT_DECISION_LOG_SEGMENT_BYTES": "4096"},
            "MLPLAT_DECISION_LOG_SEGMENT_BYTES=4096: a segment must hold at least 65536 bytes",
        ),
        (
            {"MLPLAT_DECISION_LOG_SEGMENT_BYTES": "64MiB"},
            "MLPLAT_DECISION_LOG_SEGMENT_BYTES='64MiB' is not a whole number",
        ),
        (
            {"MLPLAT_DECISION_LOG_DURABILITY": "never"},
            "MLPLAT_DECISION_LOG_DURABILITY='never'; use one of fsync, write",
        ),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env(env)
    assert str(error.value).startswith(message)


def test_command_line_options_override_the_environment() -> None:
    settings = Settings.from_env({"MLPLAT_PORT": "9000"}).overridden(
        port=9100, catalog=Path("specs2"), models=("fraud",)
    )
    assert (settings.port, settings.catalog, settings.artifact_root) == (9100, Path("specs2"), "models")
    assert settings.models == ("fraud",)


def test_the_redis_token_comes_from_secrets_manager_when_only_an_arn_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    from moto import mock_aws

    from mlplat.errors import StoreUnavailableError
    from services.model_server.app import redis_password

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        arn = boto3.client("secretsmanager", region_name="eu-west-1").create_secret(
            Name="mlplat-prod-redis-auth", SecretString="t0ken"
        )["ARN"]
        env = {"MLPLAT_ONLINE_STORE_AUTH_SECRET_ARN": arn, "AWS_REGION": "eu-west-1"}
        assert redis_password(Settings.from_env(env)) == "t0ken"
        assert redis_password(Settings.from_env({**env, "MLPLAT_REDIS_AUTH_TOKEN": "direct"})) == "direct"
        assert redis_password(Settings.from_env({})) is None
        missing = Settings.from_env({**env, "MLPLAT_ONLINE_STORE_AUTH_SECRET_ARN": arn + "x"})
        with pytest.raises(StoreUnavailableError, match="cannot read the online store AUTH token"):
            redis_password(missing)
