"""Settings come from MLPLAT_* once; mistakes name the variable; workers get the same settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlplat.catalog import Catalog
from mlplat.cli import app
from mlplat.errors import UsageError
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
    result = CliRunner().invoke(app, ["catalog", "snapshot", str(specs_dir), "-o", str(snapshot)])

    assert result.exit_code == 0, result.output
    from_file = Settings(catalog=snapshot).load_catalog()
    assert from_file.digest == Settings(catalog=specs_dir).load_catalog().digest
    assert from_file.digest == Catalog.from_snapshot(json.loads(snapshot.read_text())).digest
    with pytest.raises(UsageError, match="neither a catalog snapshot file nor a spec directory"):
        Settings(catalog=tmp_path / "missing.json").load_catalog()
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(UsageError, match="is not JSON"):
        Settings(catalog=tmp_path / "bad.json").load_catalog()
