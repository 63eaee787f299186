"""``mlplat monitor``: the terminal table, JSON, the HTML report, the Prometheus textfile, exit codes."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from mlplat.catalog import Catalog
from mlplat.cli import app
from mlplat.monitoring.synthetic_decisions import Shift, SimulationConfig, simulate

START = datetime(2026, 3, 2, tzinfo=UTC)
MODELS = Path(__file__).resolve().parents[3] / "models"
SHIFTED = "application_velocity:applications_24h"


@pytest.fixture(scope="module")
def drifted_log(catalog: Catalog, default_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("monitor-cli")
    shift = Shift(SHIFTED, START + timedelta(days=7), factor=3.0, offset=2.0)
    config = SimulationConfig(start=START, days=14, per_day=150, shifts=(shift,))
    simulate(catalog, "fraud", default_data, MODELS, root / "log", root / "outcomes", config)
    return root


def _invoke(root: Path, specs_dir: Path, *extra: str) -> tuple[int, str]:
    as_of = (START + timedelta(days=14)).isoformat()
    arguments = ["monitor", "fraud", "--decision-log", str(root / "log"), "--specs", str(specs_dir)]
    arguments += ["--artifacts", str(MODELS), "--data", str(root / "outcomes"), "--as-of", as_of, *extra]
    result = CliRunner().invoke(app, arguments)
    return result.exit_code, result.stdout


def test_json_names_the_drifted_input(drifted_log: Path, specs_dir: Path) -> None:
    code, output = _invoke(drifted_log, specs_dir, "--format", "json")
    assert code == 0, output
    report = json.loads(output)
    assert report["drifted"][0] == SHIFTED
    assert report["level"] == "act"
    assert report["monitoring"]["psi"] == {"watch": 0.1, "act": 0.25}
    assert report["reference"]["sha256"] == "92794c8ff3a8a251b625bbfb7143d7cb1e8fe997c2ca777558660a7928b3ba42"
    assert {r["role"] for r in report["rates"]} == {"primary"}


def test_text_html_and_metrics_file(drifted_log: Path, specs_dir: Path, tmp_path: Path) -> None:
    html, metrics = tmp_path / "report.html", tmp_path / "fraud.prom"
    code, output = _invoke(drifted_log, specs_dir, "--html", str(html), "--metrics-file", str(metrics))
    assert code == 0, output
    assert "approval rate by version" in output
    assert SHIFTED in output
    page = html.read_text()
    assert page.count("<svg") >= 3 + 13  # PSI, approval, bad rate (or none), one per input and score
    assert SHIFTED in page
    families = {f.name: f for f in text_string_to_metric_families(metrics.read_text())}
    psi = {
        (s.labels["input"], s.labels["against"]): s.value
        for s in families["mlplat_model_input_psi"].samples
        if s.labels["model"] == "fraud"
    }
    assert psi[(SHIFTED, "reference")] > 0.25
    assert max(v for (name, _), v in psi.items() if name != SHIFTED) < 0.25
    rates = families["mlplat_model_approval_rate"].samples
    assert [(s.labels["version"], s.labels["role"]) for s in rates] == [("v2", "primary")]
    assert "mlplat_model_monitoring_as_of_seconds" in families


def test_fail_on_act_exits_3_and_bad_options_say_what_to_write(drifted_log: Path, specs_dir: Path) -> None:
    assert _invoke(drifted_log, specs_dir, "--fail-on", "act")[0] == 3
    arguments = ["monitor", "fraud", "--decision-log", str(drifted_log / "log"), "--specs", str(specs_dir)]
    naive = CliRunner().invoke(app, [*arguments, "--artifacts", str(MODELS), "--as-of", "2026-03-16T00:00:00"])
    assert naive.exit_code == 2
    assert "has no time zone" in naive.stderr
    missing = CliRunner().invoke(app, ["monitor", "fraud", "--decision-log", "/nonexistent", "--specs", str(specs_dir)])
    assert missing.exit_code == 2
    assert "is not a decision log directory" in missing.stderr


def test_simulate_decisions_writes_a_log_monitor_reads(default_data: Path, specs_dir: Path, tmp_path: Path) -> None:
    arguments = ["simulate-decisions", "fraud", "--start", "2026-03-02T00:00:00Z", "--days", "3", "--per-day", "50"]
    arguments += [
        "--shift",
        f"{SHIFTED}:2:0:1",
        "--decision-log",
        str(tmp_path / "log"),
        "--outcomes",
        str(tmp_path / "o"),
    ]
    arguments += ["--data", str(default_data), "--specs", str(specs_dir), "--artifacts", str(MODELS)]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "o/loan_outcomes.parquet").is_file()
    records = [json.loads(line) for line in (tmp_path / "log/decisions-00000001.jsonl").read_text().splitlines()]
    assert len(records) == 150
    assert {r["kind"] for r in records} <= {"decision", "error"}
    bad = CliRunner().invoke(app, [*arguments[:8], "--shift", "nonsense", "--specs", str(specs_dir)])
    assert bad.exit_code == 2
    assert "REF:FACTOR:OFFSET:DAY" in bad.stderr


def test_train_profile_only_rewrites_the_committed_profile(default_data: Path, specs_dir: Path, tmp_path: Path) -> None:
    shutil.copytree(MODELS, tmp_path / "models")
    (tmp_path / "models/fraud/v1/profile.json").unlink()
    arguments = ["train", "fraud", "--profile-only", "--version", "v1", "--data", str(default_data)]
    result = CliRunner().invoke(app, [*arguments, "--artifacts", str(tmp_path / "models"), "--specs", str(specs_dir)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "models/fraud/v1/profile.json").read_bytes() == (MODELS / "fraud/v1/profile.json").read_bytes()
    (tmp_path / "models/fraud/v1/model.txt").write_text("tampered")
    refused = CliRunner().invoke(app, [*arguments, "--artifacts", str(tmp_path / "models"), "--specs", str(specs_dir)])
    assert refused.exit_code == 2
    assert "but the spec pins" in refused.stderr


def test_the_archive_is_read_by_duckdb_only_from_the_command_line(drifted_log: Path, specs_dir: Path) -> None:
    base = ["monitor", "fraud", "--specs", str(specs_dir), "--artifacts", str(MODELS), "--data", str(drifted_log)]
    result = CliRunner().invoke(app, [*base, "--archive", "s3://archive/decisions/", "--engine", "spark"])
    assert result.exit_code != 0
    assert "--engine spark reads a local log" in result.stderr
    result = CliRunner().invoke(app, [*base, "--archive", "/not/s3"])
    assert result.exit_code != 0
    assert "not an s3:// URI" in result.stderr
