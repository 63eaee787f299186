"""The registry database on SQLite and on the machine's real MariaDB."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from mlplat.errors import StoreUnavailableError
from mlplat.registry import Registry, RegistryError, RunStatus
from mlplat.registry.schema import metadata

T0 = datetime(2025, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "mariadb"])
def registry_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/registry.db"
    return str(request.getfixturevalue("mysql_url"))


@pytest.fixture
def registry(registry_url: str) -> Iterator[Registry]:
    opened = Registry.open(registry_url)
    yield opened
    opened.close()


def test_opening_migrates_an_empty_database_to_the_current_schema(registry_url: str) -> None:
    Registry.open(registry_url).close()
    engine = sa.create_engine(registry_url)
    inspector = sa.inspect(engine)
    assert set(inspector.get_table_names()) == {*metadata.tables, "alembic_version"}
    for table in metadata.sorted_tables:
        assert [c["name"] for c in inspector.get_columns(table.name)] == [c.name for c in table.columns]
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == "0002"
    engine.dispose()
    Registry.open(registry_url).close()  # a second open finds nothing to do


def test_runs_are_recorded_with_microsecond_utc_times(registry: Registry) -> None:
    run = registry.start_run("bureau_profile", T0, T0 + timedelta(days=1), "duckdb")
    other = registry.start_run("merchant_risk", T0, T0 + timedelta(hours=6), "spark")
    registry.finish_run(run, 1234)
    registry.fail_run(other, "Redis went away")
    latest = registry.runs()
    assert [r.id for r in latest] == [other, run]
    done = registry.runs("bureau_profile")[0]
    assert done.status is RunStatus.SUCCEEDED
    assert done.rows_written == 1234
    assert done.window_start == T0
    assert done.window_start.tzinfo is UTC
    assert done.finished_at is not None
    failed = registry.runs("merchant_risk")[0]
    assert (failed.status, failed.error) == (RunStatus.FAILED, "Redis went away")


def test_watermarks_only_move_forward(registry: Registry) -> None:
    assert registry.watermark("bureau_profile") is None
    assert registry.advance_watermark("bureau_profile", T0) == T0
    assert registry.advance_watermark("bureau_profile", T0 + timedelta(days=1)) == T0 + timedelta(days=1)
    assert registry.advance_watermark("bureau_profile", T0) == T0 + timedelta(days=1)
    assert registry.watermark("bureau_profile") == T0 + timedelta(days=1)
    assert registry.watermark("merchant_risk") is None


def test_model_versions_are_immutable(registry: Registry) -> None:
    metrics = {"auc": 0.78, "ks": 0.41}
    first = registry.record_model_version("default_risk", "v1", "a" * 64, "default_risk/v1/model.ubj", metrics)
    again = registry.record_model_version("default_risk", "v1", "a" * 64, "default_risk/v1/model.ubj", metrics)
    assert again == first
    with pytest.raises(RegistryError, match=r"already recorded with sha256 a{64}; this artifact is b{64}"):
        registry.record_model_version("default_risk", "v1", "b" * 64, "default_risk/v1/model.ubj", metrics)
    registry.record_model_version("default_risk", "v2", "b" * 64, "default_risk/v2/model.ubj", {"auc": 0.8})
    versions = registry.model_versions("default_risk")
    assert [(v.version, v.sha256[0], v.metrics["auc"]) for v in versions] == [("v1", "a", 0.78), ("v2", "b", 0.8)]
    assert registry.model_version("fraud", "v1") is None


def test_naive_times_are_refused(registry: Registry) -> None:
    with pytest.raises(sa.exc.StatementError, match="timezone-aware"):
        registry.start_run("bureau_profile", datetime(2025, 1, 1), T0, "duckdb")


def test_an_unreachable_database_is_a_clear_error() -> None:
    with pytest.raises(StoreUnavailableError, match=r"registry database .* is unreachable"):
        Registry.open("mysql+pymysql://root@127.0.0.1:1/none?connect_timeout=1")
