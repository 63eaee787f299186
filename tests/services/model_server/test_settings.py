"""Settings come from the environment once; a bad value names its variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.model_server.decision_log import Durability
from services.model_server.settings import LogSinkKind, Settings, SettingsError


def test_defaults_suit_one_laptop() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.decision_log is LogSinkKind.FILE
    assert settings.online_store_timeout_s == 0.05


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "MLPLAT_CATALOG": "/etc/mlplat/catalog.json",
            "MLPLAT_MODELS": "default_risk, fraud",
            "MLPLAT_ARTIFACT_ROOT": "/models",
            "MLPLAT_S3_ENDPOINT_URL": "https://s3.eu-west-1.amazonaws.com",
            "AWS_REGION": "eu-west-1",
            "MLPLAT_ONLINE_STORE_URL": "rediss://cache:6379/0",
            "MLPLAT_ONLINE_STORE_NAMESPACE": "prod",
            "MLPLAT_ONLINE_STORE_TIMEOUT_MS": "20",
            "MLPLAT_STORE_RETRY_MS": "500",
            "MLPLAT_DECISION_LOG": "kinesis",
            "MLPLAT_DECISION_LOG_DURABILITY": "write",
            "MLPLAT_DECISION_STREAM": "mlplat-prod-decisions",
            "MLPLAT_PORT": "9000",
            "MLPLAT_HOST": "0.0.0.0",
            "MLPLAT_SCORING_THREADS": "2",
        }
    )
    assert settings.catalog == Path("/etc/mlplat/catalog.json")
    assert settings.models == ("default_risk", "fraud")
    assert (settings.online_store_timeout_s, settings.store_retry_s) == (0.02, 0.5)
    assert (settings.decision_log, settings.kinesis_stream) == (LogSinkKind.KINESIS, "mlplat-prod-decisions")
    assert settings.decision_log_durability is Durability.WRITE
    assert settings.scoring_threads == 2
    assert (settings.host, settings.port, settings.aws_region) == ("0.0.0.0", 9000, "eu-west-1")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MLPLAT_PORT": "http"}, "MLPLAT_PORT='http' is not a whole number"),
        ({"MLPLAT_SCORING_THREADS": "-1"}, "MLPLAT_SCORING_THREADS='-1' is not a whole number of 0 or more"),
        ({"MLPLAT_ONLINE_STORE_TIMEOUT_MS": "0"}, "MLPLAT_ONLINE_STORE_TIMEOUT_MS='0' must be positive"),
        ({"MLPLAT_DECISION_LOG": "s3"}, "MLPLAT_DECISION_LOG='s3'; use one of file, kinesis"),
        (
            {"MLPLAT_DECISION_LOG_DURABILITY": "never"},
            "MLPLAT_DECISION_LOG_DURABILITY='never'; use one of fsync, write",
        ),
        ({"MLPLAT_DECISION_LOG": "kinesis"}, "MLPLAT_DECISION_LOG=kinesis needs MLPLAT_DECISION_STREAM"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env(env)
    assert str(error.value).startswith(message)


def test_command_line_options_override_the_environment() -> None:
    settings = Settings.from_env({"MLPLAT_PORT": "9000"}).overridden(port=9100, catalog=Path("specs2"))
    assert (settings.port, settings.catalog, settings.artifact_root) == (9100, Path("specs2"), Path("models"))
