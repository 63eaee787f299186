"""Materialization into the real Redis, with runs and watermarks in the real MariaDB."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis
import sqlalchemy as sa

from mlplat.catalog import Catalog
from mlplat.errors import UsageError
from mlplat.offline.engine import Engine
from mlplat.offline.materialize import (
    MaterializeOptions,
    OnlineTarget,
    Window,
    materializable_views,
    materialize,
    materialize_view,
    plan_window,
)
from mlplat.offline.run_lease import LeasePolicy
from mlplat.offline.sources import TIMESTAMP
from mlplat.online_store import ReadRequest
from mlplat.registry import Registry, RunStatus
from mlplat.registry.schema import materialization_runs
from mlplat.synthetic import SyntheticConfig, generate
from tests.mlplat.offline.test_training_set import SPARK_SOCKETS, write_bureau

NOW = datetime.now(UTC).replace(microsecond=0)
D = timedelta(days=1)

# --- the window of a run (pure) -------------------------------------------------------


@pytest.mark.parametrize(
    ("watermark", "lateness", "start", "end", "expected"),
    [
        (None, None, None, None, Window(NOW - 45 * D, NOW, True)),  # first run: one ttl back
        (NOW - 2 * D, 3 * D, None, None, Window(NOW - 5 * D, NOW, True)),  # re-read the lateness
        (NOW - 2 * D, None, None, NOW - D, Window(NOW - 2 * D, NOW - D, True)),
        (NOW - 2 * D, None, NOW - 9 * D, NOW - 8 * D, Window(NOW - 9 * D, NOW - 8 * D, True)),  # backfill, no gap
        (NOW - 2 * D, None, NOW - D, NOW, Window(NOW - D, NOW, False)),  # would leave a gap
        (None, None, NOW - 9 * D, NOW - 8 * D, Window(NOW - 9 * D, NOW - 8 * D, True)),
    ],
)
def test_plan_window(
    watermark: datetime | None,
    lateness: timedelta | None,
    start: datetime | None,
    end: datetime | None,
    expected: Window,
) -> None:
    window = plan_window(watermark=watermark, lateness=lateness, ttl=45 * D, now=NOW, start=start, end=end)
    assert window == expected


def test_plan_window_refuses_empty_and_naive_windows() -> None:
    with pytest.raises(UsageError, match="window is empty"):
        plan_window(watermark=None, lateness=None, ttl=D, now=NOW, start=NOW, end=NOW)
    with pytest.raises(UsageError, match="has no time zone"):
        plan_window(watermark=None, lateness=None, ttl=D, now=NOW, start=datetime(2025, 1, 1), end=NOW)


def test_only_online_views_are_materialized(catalog: Catalog) -> None:
    assert materializable_views(catalog) == sorted(catalog.feature_views)
    assert materializable_views(catalog, "bureau_profile") == ["bureau_profile"]


# --- runs against the real stores ----------------------------------------------------


@pytest.fixture(scope="module")
def recent_data(catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic sources whose history ends now, so the store keeps what is written."""
    root = tmp_path_factory.mktemp("recent")
    generate(catalog, root, SyntheticConfig(seed=5, applicants=300, start=NOW - 50 * D, days=50))
    return root


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def stored(client: redis.Redis, namespace: str) -> dict[bytes, bytes]:
    """Every blob under ``namespace``, keyed without the namespace."""
    prefix = f"{namespace}:".encode()
    keys = list(client.scan_iter(match=prefix + b"*", count=1000))
    values = client.mget(keys) if keys else []
    return {key[len(prefix) :]: value for key, value in zip(keys, values, strict=True)}


def drop(client: redis.Redis, namespace: str) -> None:
    for key in client.scan_iter(match=f"{namespace}:*".encode(), count=1000):
        client.delete(key)


@pytest.fixture
def namespaces(redis_client: redis.Redis, namespace: str) -> Iterator[list[str]]:
    names = [f"{namespace}a", f"{namespace}b"]
    yield names
    for name in names:
        drop(redis_client, name)


def test_a_run_writes_each_entitys_latest_row(
    catalog: Catalog, recent_data: Path, redis_url: str, mysql_url: str, namespaces: list[str]
) -> None:
    registry = Registry.open(mysql_url)
    target = OnlineTarget(redis_url, namespaces[0])
    result = materialize_view(catalog, "bureau_profile", target, registry, MaterializeOptions(recent_data, end=NOW))
    rows = pq.read_table(recent_data / "bureau_snapshots.parquet").to_pylist()
    in_window = [r for r in rows if NOW - 45 * D <= r["event_timestamp"] < NOW]
    latest: dict[str, dict[str, Any]] = {}
    for row in sorted(in_window, key=lambda r: (r["event_timestamp"], r["created_at"])):
        latest[row["applicant_id"]] = row
    assert result.rows == result.applied == len(latest) == 300
    store = target.open(catalog)
    sample = sorted(latest)[:25]
    values = store.read([ReadRequest("bureau_profile", (a,), ["fico_score", "revolving_utilization"]) for a in sample])
    store.close()
    for applicant, got in zip(sample, values, strict=True):
        assert got["fico_score"].value == latest[applicant]["fico_score"]
        assert got["fico_score"].event_time == latest[applicant]["event_timestamp"]
    run = registry.runs("bureau_profile")[0]
    assert (run.status, run.rows_written, run.window_end) == (RunStatus.SUCCEEDED, 300, NOW)
    assert registry.watermark("bureau_profile") == NOW
    registry.close()


def test_rerunning_a_window_changes_nothing(
    catalog: Catalog,
    recent_data: Path,
    redis_url: str,
    redis_client: redis.Redis,
    namespaces: list[str],
    tmp_path: Path,
) -> None:
    registry = Registry.open(f"sqlite:///{tmp_path}/registry.db")
    target = OnlineTarget(redis_url, namespaces[0])
    window = MaterializeOptions(recent_data, start=NOW - 45 * D, end=NOW)
    materialize_view(catalog, "merchant_risk", target, registry, window)
    before = stored(redis_client, namespaces[0])
    again = materialize_view(catalog, "merchant_risk", target, registry, window)
    assert stored(redis_client, namespaces[0]) == before
    assert again.applied == again.rows  # equal event times overwrite with the same bytes
    registry.close()


def _write_bureau(path: Path, rows: list[tuple[str, datetime, datetime, int]]) -> None:
    template = {"revolving_utilization": pa.float32(), "total_revolving_balance": pa.float64()}
    columns: dict[str, Any] = {
        "applicant_id": pa.array([r[0] for r in rows]),
        "event_timestamp": pa.array([r[1] for r in rows], TIMESTAMP),
        "created_at": pa.array([r[2] for r in rows], TIMESTAMP),
        "fico_score": pa.array([r[3] for r in rows], pa.int32()),
    }
    for name in ("open_tradelines", "delinquencies_24m", "inquiries_6m", "credit_history_months"):
        columns[name] = pa.array([1] * len(rows), pa.int32())
    for name, kind in template.items():
        columns[name] = pa.array([0.5] * len(rows), kind)
    for name in ("has_bankruptcy", "thin_file"):
        columns[name] = pa.array([False] * len(rows))
    order = ["applicant_id", "event_timestamp", "created_at", "fico_score", "revolving_utilization"]
    order += ["open_tradelines", "delinquencies_24m", "inquiries_6m", "credit_history_months"]
    order += ["total_revolving_balance", "has_bankruptcy", "thin_file"]
    pq.write_table(pa.table({name: columns[name] for name in order}), path / "bureau_snapshots.parquet")


def test_late_rows_within_the_lateness_are_picked_up(
    catalog: Catalog, tmp_path: Path, redis_url: str, namespaces: list[str]
) -> None:
    """bureau_profile re-reads 3 days before its watermark on every run."""
    registry = Registry.open(f"sqlite:///{tmp_path}/registry.db")
    target = OnlineTarget(redis_url, namespaces[0])
    first_end = NOW - 5 * D
    _write_bureau(tmp_path, [("a1", NOW - 10 * D, NOW - 10 * D, 600), ("a2", NOW - 10 * D, NOW - 10 * D, 610)])
    materialize_view(catalog, "bureau_profile", target, registry, MaterializeOptions(tmp_path, end=first_end))
    # after the first run, rows arrive late: one 2 days before the watermark, one 6 days before
    _write_bureau(
        tmp_path,
        [
            ("a1", NOW - 10 * D, NOW - 10 * D, 600),
            ("a2", NOW - 10 * D, NOW - 10 * D, 610),
            ("a1", first_end - 2 * D, NOW - D, 700),
            ("a2", first_end - 6 * D, NOW - D, 710),
        ],
    )
    second = materialize_view(catalog, "bureau_profile", target, registry, MaterializeOptions(tmp_path, end=NOW))
    assert second.window.start == first_end - 3 * D
    store = target.open(catalog)
    a1, a2 = store.read([ReadRequest("bureau_profile", (a,), ["fico_score"]) for a in ("a1", "a2")])
    store.close()
    assert a1["fico_score"].value == 700
    assert a2["fico_score"].value == 610  # later than the lateness allows: only a backfill brings it
    registry.close()


@pytest.mark.slow
def test_a_run_killed_midway_and_rerun_leaves_the_store_as_a_clean_run(
    catalog: Catalog,
    recent_data: Path,
    redis_url: str,
    redis_client: redis.Redis,
    mysql_url: str,
    namespaces: list[str],
    repo: Path,
    tmp_path: Path,
) -> None:
    crashed, clean = namespaces
    env = {**os.environ, "PYTHONPATH": str(repo)}
    args = [str(recent_data), redis_url, crashed, mysql_url, NOW.isoformat(), "40", "3"]
    process = subprocess.run(
        [sys.executable, "-m", "tests.mlplat.offline.crash_materialize", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert process.returncode == -9, process.stderr.decode()[-2000:]
    registry = Registry.open(mysql_url)
    assert registry.runs("bureau_profile")[0].status is RunStatus.RUNNING  # it never finished
    assert registry.watermark("bureau_profile") is None  # so the window was never marked done
    assert len(stored(redis_client, crashed)) == 120  # three batches of 40 made it
    options = MaterializeOptions(recent_data, batch_rows=40, end=NOW)
    rerun = materialize_view(catalog, "bureau_profile", OnlineTarget(redis_url, crashed), registry, options)
    assert rerun.window.start == NOW - 45 * D
    assert registry.watermark("bureau_profile") == NOW
    # The killed run's process is gone: the rerun marked it failed, saying why.
    (killed,) = rerun.failed_runs
    record = next(r for r in registry.runs("bureau_profile") if r.id == killed)
    assert record.status is RunStatus.FAILED
    assert record.error is not None
    assert "no longer exists" in record.error
    fresh = Registry.open(f"sqlite:///{tmp_path}/clean.db")
    materialize_view(catalog, "bureau_profile", OnlineTarget(redis_url, clean), fresh, options)
    after_crash, after_clean = stored(redis_client, crashed), stored(redis_client, clean)
    assert len(after_clean) == 300
    assert after_crash == after_clean
    registry.close()
    fresh.close()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning")
def test_spark_engine_writes_what_the_embedded_engine_writes(
    catalog: Catalog,
    recent_data: Path,
    redis_url: str,
    redis_client: redis.Redis,
    namespaces: list[str],
    tmp_path: Path,
    spark: Any,
) -> None:
    embedded, distributed = namespaces
    for name, engine in ((embedded, Engine.DUCKDB), (distributed, Engine.SPARK)):
        registry = Registry.open(f"sqlite:///{tmp_path}/{name}.db")
        options = MaterializeOptions(recent_data, engine=engine, batch_rows=64, end=NOW)
        for view in ("repayment_history", "application_velocity"):
            materialize_view(catalog, view, OnlineTarget(redis_url, name), registry, options)
        registry.close()
    spark_blobs = stored(redis_client, distributed)
    assert len(spark_blobs) > 100
    assert spark_blobs == stored(redis_client, embedded)


def test_embedded_engine_into_sqlite(catalog: Catalog, recent_data: Path, tmp_path: Path) -> None:
    registry = Registry.open(f"sqlite:///{tmp_path}/registry.db")
    target = OnlineTarget(f"sqlite:///{tmp_path}/online.db")
    result = materialize_view(catalog, "merchant_risk", target, registry, MaterializeOptions(recent_data, end=NOW))
    store = target.open(catalog)
    (values,) = store.read([ReadRequest("merchant_risk", ("m00003",), ["merchant_category"])])
    store.close()
    assert result.rows == 20
    assert values["merchant_category"].value in {"electronics", "fashion", "travel", "home", "beauty", "sports"}
    registry.close()


def test_cli_materializes_with_a_results_table(recent_data: Path, tmp_path: Path, specs_dir: Path) -> None:
    from typer.testing import CliRunner

    from mlplat.cli import app

    common = ["--data", str(recent_data), "--specs", str(specs_dir), "--registry", f"sqlite:///{tmp_path}/r.db"]
    common += ["--online-store", f"sqlite:///{tmp_path}/online.db"]
    result = CliRunner().invoke(app, ["materialize", "--view", "merchant_risk", "--end", NOW.isoformat(), *common])
    assert result.exit_code == 0, result.output
    assert "merchant_risk" in result.output
    again = CliRunner().invoke(app, ["materialize", "--view", "merchant_risk", "--end", NOW.isoformat(), *common])
    assert again.exit_code == 0, again.output
    assert "merchant_risk: skipped, already materialized up to" in again.output
    assert NOW.strftime("%H:%M:%SZ") in result.output  # the narrow test console wraps the date
    bad = CliRunner().invoke(app, ["materialize", "--end", "yesterday", *common])
    assert bad.exit_code == 2
    assert "--end 'yesterday' is not an ISO time" in bad.output


def test_targets_keep_the_password_out_of_logs() -> None:
    assert "s3cret" not in repr(OnlineTarget("rediss://cache:6379/0", password="s3cret"))
    with pytest.raises(UsageError, match="batch rows is 0"):
        MaterializeOptions("data", batch_rows=0)


def test_a_rerun_skips_views_already_done_and_runs_the_rest(
    catalog: Catalog, recent_data: Path, tmp_path: Path, redis_url: str, namespace: str, redis_client: redis.Redis
) -> None:
    """A run of every view that died after its first views is rerun with the same end: those are skipped."""
    registry = Registry.open(f"sqlite:///{tmp_path}/registry.db")
    target = OnlineTarget(redis_url, namespace)
    options = MaterializeOptions(recent_data, end=NOW)
    done = ["application_velocity", "bureau_profile"]  # no lateness, and a lateness of 3d
    for view in done:
        materialize_view(catalog, view, target, registry, options)
    views = materializable_views(catalog)
    results = materialize(catalog, views, target, registry, options)
    by_view = {r.view: r for r in results}
    for view in done:
        assert by_view[view].skipped is not None
        assert "already materialized up to" in by_view[view].skipped
        assert by_view[view].run_id is None
    for view in set(views) - set(done):
        assert by_view[view].skipped is None
        assert by_view[view].rows > 0
        assert registry.watermark(view) == NOW
    assert len(registry.runs()) == len(views)  # skipped views record no run
    # A backfill of a finished window runs: it was asked for.
    backfill = MaterializeOptions(recent_data, start=NOW - D, end=NOW)
    assert materialize_view(catalog, "bureau_profile", target, registry, backfill).skipped is None
    registry.close()
    drop(redis_client, namespace)


@pytest.mark.parametrize("backend", ["sqlite", "mysql"])
def test_a_run_on_another_host_that_stopped_heartbeating_is_marked_failed(
    request: pytest.FixtureRequest, backend: str, catalog: Catalog, recent_data: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/registry.db" if backend == "sqlite" else str(request.getfixturevalue("mysql_url"))
    registry = Registry.open(url)
    silent = registry.start_run("merchant_risk", NOW - D, NOW, "spark", owner="emr-driver-1:4242")
    alive = registry.start_run("merchant_risk", NOW - D, NOW, "spark", owner="emr-driver-2:4242")
    options = MaterializeOptions(recent_data, end=NOW, lease=LeasePolicy(heartbeat=15, lease=120))
    target = OnlineTarget(f"sqlite:///{tmp_path}/online.db")
    later = datetime.now(UTC) + timedelta(seconds=121)  # 121 s after both started
    engine = sa.create_engine(url)
    with engine.begin() as connection:  # the second owner heartbeated 10 s before "later"
        connection.execute(
            materialization_runs.update()
            .where(materialization_runs.c.id == alive)
            .values(heartbeat_at=later - timedelta(seconds=10))
        )
    engine.dispose()
    result = materialize_view(catalog, "merchant_risk", target, registry, options, now=later)
    assert result.failed_runs == (silent,)
    runs = {r.id: r for r in registry.runs("merchant_risk")}
    assert runs[silent].status is RunStatus.FAILED
    assert runs[silent].error is not None
    assert "no heartbeat from emr-driver-1:4242" in runs[silent].error
    assert runs[alive].status is RunStatus.RUNNING
    assert runs[result.run_id].status is RunStatus.SUCCEEDED  # type: ignore[index]
    registry.close()


@pytest.mark.parametrize("engine", [Engine.DUCKDB, pytest.param(Engine.SPARK, marks=[pytest.mark.slow, SPARK_SOCKETS])])
def test_a_run_writes_only_rows_written_by_its_clock(catalog: Catalog, tmp_path: Path, engine: Engine) -> None:
    """A row in the window but written after the run's now was not there to copy (mlplat.point_in_time)."""
    t0 = NOW - 20 * D  # recent enough for the store to serve what the run wrote
    write_bureau(tmp_path, [("a1", 0, 0, 600), ("a1", 5, 30, 650), ("a2", 1, 1, 700)], base=t0)
    registry = Registry.open(f"sqlite:///{tmp_path}/registry.db")
    target = OnlineTarget(f"sqlite:///{tmp_path}/online.db")
    options = MaterializeOptions(tmp_path, engine=engine, start=t0 - D, end=t0 + 10 * D)
    result = materialize_view(catalog, "bureau_profile", target, registry, options, now=t0 + 10 * D)
    assert result.rows == 2
    store = target.open(catalog)
    found = store.read([ReadRequest("bureau_profile", (a,), ["fico_score"]) for a in ("a1", "a2")])
    store.close()
    registry.close()
    # a1's day-5 row was written on day 30: at day 10 its day-0 row is the latest there was.
    assert [f["fico_score"].value for f in found] == [600, 700]
    assert found[0]["fico_score"].event_time == t0
