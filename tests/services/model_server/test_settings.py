"""The model server's own settings: models and the decision log, read from MLPLAT_* like the shared ones."""

from __future__ import annotations

import pytest
import typer

from mlplat.cli import app as mlplat_app
from mlplat.errors import UsageError
from services.cli import app as serve_app
from services.model_server.decision_log import Durability
from services.model_server.settings import Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MLPLAT_MODEL", "MLPLAT_MODELS", "MLPLAT_DECISION_LOG"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_suit_one_laptop() -> None:
    settings = Settings.from_environment()
    assert settings == Settings()
    assert (settings.kinesis_stream, settings.decision_log, settings.artifact_root) == (
        None,
        ".mlplat/decisions",
        "models",
    )
    assert (settings.models, settings.scoring_threads) == ((), 0)


def test_every_variable_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "MLPLAT_MODELS": "default_risk, fraud",
        "MLPLAT_ARTIFACT_ROOT": "s3://mlplat-prod-artifacts",
        "MLPLAT_S3_ENDPOINT_URL": "https://s3.eu-west-1.amazonaws.com",
        "MLPLAT_DECISION_LOG": "kinesis://mlplat-prod-decisions",
        "MLPLAT_DECISION_LOG_DURABILITY": "write",
        "MLPLAT_DECISION_LOG_SEGMENT_BYTES": "1048576",
        "MLPLAT_KINESIS_ENDPOINT_URL": "http://127.0.0.1:4566",
        "MLPLAT_SCORING_THREADS": "2",
    }.items():
        monkeypatch.setenv(name, value)

    settings = Settings.from_environment()

    assert settings.models == ("default_risk", "fraud")
    assert (settings.artifact_root, settings.s3_endpoint_url) == (
        "s3://mlplat-prod-artifacts",
        "https://s3.eu-west-1.amazonaws.com",
    )
    assert settings.kinesis_stream == "mlplat-prod-decisions"
    assert settings.decision_log_durability is Durability.WRITE
    assert settings.decision_log_segment_bytes == 1 << 20
    assert (settings.kinesis_endpoint_url, settings.scoring_threads) == ("http://127.0.0.1:4566", 2)


def test_one_model_per_deployment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLPLAT_MODEL", "fraud")
    monkeypatch.setenv("MLPLAT_MODELS", "a,b")
    assert Settings.from_environment().models == ("fraud",)
    assert Settings.from_environment(models=("x",)).models == ("x",)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MLPLAT_SCORING_THREADS", "-1", "MLPLAT_SCORING_THREADS='-1': Input should be greater than or equal to 0"),
        ("MLPLAT_DECISION_LOG", "kinesis://", "MLPLAT_DECISION_LOG='kinesis://': give a directory or kinesis://"),
        (
            "MLPLAT_DECISION_LOG_SEGMENT_BYTES",
            "4096",
            "MLPLAT_DECISION_LOG_SEGMENT_BYTES='4096': Input should be greater",
        ),
        (
            "MLPLAT_DECISION_LOG_SEGMENT_BYTES",
            "64MiB",
            "MLPLAT_DECISION_LOG_SEGMENT_BYTES='64MiB': Input should be a valid",
        ),
        (
            "MLPLAT_DECISION_LOG_DURABILITY",
            "never",
            "MLPLAT_DECISION_LOG_DURABILITY='never': Input should be 'fsync' or",
        ),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str, message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(UsageError) as error:
        Settings.from_environment()
    assert message in str(error.value)


def test_the_log_is_written_where_its_readers_look_by_default() -> None:
    """`mlplat-serve models` then `mlplat-serve decisions --id`, `mlplat monitor`, `mlplat outcomes`: no flag needed."""
    readers = {"mlplat": ("monitor", "outcomes"), "mlplat-serve": ("decisions",)}
    for program, commands in readers.items():
        app = typer.main.get_command(mlplat_app if program == "mlplat" else serve_app)
        for name in commands:
            (option,) = [p for p in app.commands[name].params if p.name in {"decision_log", "log"}]
            assert str(option.default) == Settings().decision_log, (program, name)
