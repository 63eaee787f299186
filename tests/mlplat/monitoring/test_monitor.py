"""``monitor`` over simulated decision logs: planted drift is found and named, a stable window is quiet,
approval rates are per version and role, and outcomes are joined point in time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from mlplat.catalog import Catalog
from mlplat.decision_log import read_decision_log, segment_path
from mlplat.monitoring.log_scan import TABLE, load_decisions, readable_segments
from mlplat.monitoring.monitor import MonitoringReport, MonitorOptions, monitor
from mlplat.monitoring.stability import Level
from mlplat.monitoring.synthetic_decisions import Shift, SimulationConfig, simulate

START = datetime(2026, 3, 2, tzinfo=UTC)
REPO_MODELS = Path(__file__).resolve().parents[3] / "models"


def _run(
    catalog: Catalog, data: Path, where: Path, config: SimulationConfig, as_of: datetime, model: str = "default_risk"
) -> MonitoringReport:
    simulate(catalog, model, data, REPO_MODELS, where / "log", where / "outcomes", config)
    return monitor(catalog, model, MonitorOptions(where / "log", REPO_MODELS, where / "outcomes", as_of))


def test_a_shifted_input_is_found_and_named(catalog: Catalog, default_data: Path, tmp_path: Path) -> None:
    shift = Shift("bureau_profile:revolving_utilization", START + timedelta(days=7), factor=1.6)
    config = SimulationConfig(start=START, days=14, per_day=300, shifts=(shift,))
    report = _run(catalog, default_data, tmp_path, config, START + timedelta(days=14))
    by_name = {d.name: d for d in report.inputs}
    assert by_name[shift.ref].level is Level.ACT
    assert by_name[shift.ref].psi_reference is not None
    assert by_name[shift.ref].psi_reference > 0.25
    assert by_name[shift.ref].psi_previous is not None
    assert by_name[shift.ref].psi_previous > 0.25
    others = {name: d.psi_reference for name, d in by_name.items() if name != shift.ref and d.level is not Level.OK}
    assert others == {}
    assert report.drifted()[0] == shift.ref
    assert report.level is not Level.OK


def test_a_stable_window_is_quiet(catalog: Catalog, default_data: Path, tmp_path: Path) -> None:
    config = SimulationConfig(start=START, days=14, per_day=300, shadow="v1")
    report = _run(catalog, default_data, tmp_path, config, START + timedelta(days=14))
    assert report.drifted() == []
    assert report.level is Level.OK
    assert all((d.psi_reference or 0.0) < 0.1 for d in report.inputs)
    assert all(d.psi_reference is not None for d in report.inputs)
    roles = {(r.version, r.role): r for r in report.rates}
    assert set(roles) == {("v2", "primary"), ("v1", "shadow")}
    primary = roles[("v2", "primary")]
    assert primary.decisions == report.volumes[0].decisions
    assert primary.level is Level.OK
    assert primary.approval_rate is not None
    assert 0.5 < primary.approval_rate < 1
    assert {d.name for d in report.scores} == {"score v1", "score v2"}
    assert report.volumes[0].error_rate is not None
    assert report.volumes[0].error_rate < 0.02


def test_missing_values_show_in_feature_health_and_in_the_missing_bin(
    catalog: Catalog, default_data: Path, tmp_path: Path
) -> None:
    ref = "merchant_risk:default_rate_180d"
    config = SimulationConfig(start=START, days=14, per_day=200, missing={ref: 0.3})
    report = _run(catalog, default_data, tmp_path, config, START + timedelta(days=14))
    health = {h.ref: h for h in report.health}
    assert health[ref].missing_share == pytest.approx(0.3, abs=0.05)
    assert health["request:order_amount"].missing_share == 0.0
    drift = {d.name: d for d in report.inputs}[ref]
    assert drift.current is not None
    assert drift.current[-1] == pytest.approx(0.3, abs=0.05)
    assert drift.level is Level.ACT


def test_the_log_is_read_as_the_model_server_reader_reads_it(catalog: Catalog, tmp_path: Path) -> None:
    import duckdb

    log = tmp_path / "log"
    log.mkdir()
    base = '{"id":"%s","time":"2026-03-02T10:00:00+00:00","model":"fraud","kind":"decision","decision":"approve"}'
    segment_path(log, 1).write_bytes((base % "a" + "\n" + base % "b" + "\n").encode())
    # The active segment: a record, a torn one, then the preallocated zeros.
    segment_path(log, 2).write_bytes((base % "c" + "\n" + '{"id":"tor' + "\n").encode() + bytes(4096))
    connection = duckdb.connect()
    with readable_segments(log) as files:
        since, until = START - timedelta(days=1), START + timedelta(days=1)
        assert load_decisions(connection, files, TABLE, "fraud", [], since, until) == 3
    assert [r["id"] for r in read_decision_log(log)] == ["a", "b", "c"]
    assert [r[0] for r in connection.execute(f"SELECT id FROM {TABLE} ORDER BY id").fetchall()] == ["a", "b", "c"]


def test_outcomes_recorded_after_the_as_of_time_are_never_used(
    catalog: Catalog, default_data: Path, tmp_path: Path
) -> None:
    config = SimulationConfig(start=START, days=120, per_day=40)
    as_of = START + timedelta(days=100)  # default_risk's label window is 90d: the first 10 days matured
    report = _run(catalog, default_data, tmp_path, config, as_of)
    assert report.performance is not None
    months = report.performance.months
    matured = sum(m.matured for m in months)
    assert 300 < matured < 500  # ~10 days of 40 decisions
    assert all(m.with_outcome == m.matured for m in months)
    before = [(m.month, m.bad_rate, m.auc) for m in months]
    # Corrections of every outcome, all labelled bad, recorded one second after the as-of time.
    path = tmp_path / "outcomes/loan_outcomes.parquet"
    outcomes = pq.read_table(path)
    late = pa.scalar(as_of - timedelta(days=90) + timedelta(seconds=1), pa.timestamp("us", tz="UTC"))
    corrections = outcomes.set_column(
        outcomes.schema.get_field_index("event_timestamp"),
        "event_timestamp",
        pa.array([late.as_py()] * len(outcomes), late.type),
    ).set_column(
        outcomes.schema.get_field_index("defaulted_90d"), "defaulted_90d", pa.array([1] * len(outcomes), pa.int32())
    )
    pq.write_table(pa.concat_tables([outcomes, corrections]), path)
    options = MonitorOptions(tmp_path / "log", REPO_MODELS, tmp_path / "outcomes", as_of)
    again = monitor(catalog, "default_risk", options)
    assert again.performance is not None
    assert [(m.month, m.bad_rate, m.auc) for m in again.performance.months] == before
    # A second later the corrections are recorded, and they win.
    later = monitor(
        catalog,
        "default_risk",
        MonitorOptions(options.decision_log, REPO_MODELS, options.data_root, as_of + timedelta(seconds=1)),
    )
    assert later.performance is not None
    assert all(m.bad_rate == 1.0 for m in later.performance.months if m.with_outcome)
    assert pc.sum(corrections.column("defaulted_90d")).as_py() == len(outcomes)


def test_decisions_within_their_label_window_wait(catalog: Catalog, default_data: Path, tmp_path: Path) -> None:
    config = SimulationConfig(start=START, days=30, per_day=20)
    report = _run(catalog, default_data, tmp_path, config, START + timedelta(days=30))
    assert report.performance is not None
    assert report.performance.months == ()
    assert report.performance.note is not None
    assert "label window" in report.performance.note
