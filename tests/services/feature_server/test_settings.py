"""The feature server's own settings: its limits, read from MLPLAT_* like the shared ones."""

from __future__ import annotations

import pytest

from mlplat.errors import UsageError
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
    assert "MLPLAT_MAX_ENTITIES='many': Input should be a valid integer" in str(raised.value)
    assert "MLPLAT_MAX_PUSH_SKEW_SECONDS='-1': Input should be greater than or equal to 0" in str(raised.value)
