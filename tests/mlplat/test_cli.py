"""``mlplat validate`` and ``mlplat schema`` as a user runs them: output and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from mlplat.cli import app
from mlplat.schema import json_schema_text

FIXTURES = Path(__file__).parent / "fixtures"
runner = CliRunner()


def test_mistakes_in_three_files_are_all_reported_with_lines() -> None:
    directory = FIXTURES / "three_broken_files"
    result = runner.invoke(app, ["validate", "--specs", str(directory)])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{directory}/entities.yaml:7:3: error: spec.tpye: unknown field 'tpye'; accepted here: 'joinKey', 'type' (did you mean 'type'?)",
        f"{directory}/models.yaml:18:14: error: spec.rollout.primary: version 'v2' does not exist; spec.versions has 'v1'",
        f"{directory}/views.yaml:8:8: error: spec.ttl: '30 days' is not a duration: write a whole number followed by s, m, h, d or w (e.g. '90s', '6h', '30d')",
        "3 error(s), 0 warning(s) in 4 file(s)",
    ]


def test_clean_specs_exit_0_with_a_summary(specs_dir: Path) -> None:
    result = runner.invoke(app, ["validate", "--specs", str(specs_dir)])
    assert result.exit_code == 0, result.output
    assert "default_risk, fraud" in result.stdout
    files = len(list(specs_dir.rglob("*.yaml")))
    assert result.stdout.splitlines()[-1].startswith(f"ok: {files} file(s), 0 warning(s), catalog ")


def test_warnings_alone_exit_0_and_are_shown() -> None:
    directory = FIXTURES / "warnings_only"
    result = runner.invoke(app, ["validate", "--specs", str(directory)])
    assert result.exit_code == 0, result.output
    assert f"{directory}/specs.yaml:23:8: warning: spec.ttl: ttl 1h is shorter" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("ok: 1 file(s), 1 warning(s), catalog ")


def test_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", "--specs", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert f"spec directory '{tmp_path / 'nope'}' does not exist or is not a directory" in result.stderr
    assert result.stdout == ""


def test_a_file_instead_of_a_directory_is_a_usage_error(specs_dir: Path) -> None:
    result = runner.invoke(app, ["validate", "--specs", str(specs_dir / "models" / "fraud.yaml")])
    assert result.exit_code == 2


def test_unknown_format_is_a_usage_error(specs_dir: Path) -> None:
    result = runner.invoke(app, ["validate", "--specs", str(specs_dir), "--format", "xml"])
    assert result.exit_code == 2
    assert "Invalid value for '--format'" in result.stderr
    assert "'xml'" in result.stderr


def test_empty_directory_is_a_spec_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", "--specs", str(tmp_path)])
    assert result.exit_code == 1
    assert f"{tmp_path}: error: no *.yaml or *.yml files here; point at the spec directory" in result.stdout


def test_spec_text_is_printed_as_written_not_as_markup(tmp_path: Path) -> None:
    (tmp_path / "specs.yaml").write_text(
        "apiVersion: mlplat/v1\nkind: Entity\nmetadata:\n  name: x\n  labels: {'[bold]a': b}\nspec: {joinKey: a}\n"
    )
    result = runner.invoke(app, ["validate", "--specs", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == (
        f"{tmp_path}/specs.yaml:5:12: error: metadata.labels['[bold]a']: '[bold]a' is not a Kubernetes label key "
        "or value: use at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
    )


def test_json_output_of_errors() -> None:
    directory = FIXTURES / "three_broken_files"
    result = runner.invoke(app, ["validate", "--specs", str(directory), "--format", "json"])
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["ok"] is False
    assert payload["files"] == 4
    assert payload["digest"] is None
    assert payload["diagnostics"][0] == {
        "file": f"{directory}/entities.yaml",
        "line": 7,
        "column": 3,
        "path": "spec.tpye",
        "severity": "error",
        "message": "unknown field 'tpye'; accepted here: 'joinKey', 'type' (did you mean 'type'?)",
    }
    assert [(d["file"].rsplit("/", 1)[1], d["line"]) for d in payload["diagnostics"]] == [
        ("entities.yaml", 7),
        ("models.yaml", 18),
        ("views.yaml", 8),
    ]


def test_json_output_of_clean_specs_with_warnings() -> None:
    result = runner.invoke(app, ["validate", "--specs", str(FIXTURES / "warnings_only"), "--format", "json"])
    assert result.exit_code == 0
    payload = json.loads(result.stdout)
    assert set(payload) == {"ok", "files", "digest", "diagnostics"}
    assert payload["ok"] is True
    assert len(payload["digest"]) == 64
    assert [d["severity"] for d in payload["diagnostics"]] == ["warning"]


def test_schema_writes_the_committed_schema(tmp_path: Path) -> None:
    target = tmp_path / "schema.json"
    result = runner.invoke(app, ["schema", "-o", str(target)])
    assert result.exit_code == 0
    assert target.read_text() == json_schema_text()


def test_module_entry_point_exits_with_the_codes(tmp_path: Path) -> None:
    """The real process: ``python -m mlplat`` maps outcomes to 0, 1 and 2."""

    def run(*args: str) -> int:
        return subprocess.run([sys.executable, "-m", "mlplat", *args], capture_output=True, check=False).returncode

    assert run("validate", "--specs", str(FIXTURES / "warnings_only")) == 0
    assert run("validate", "--specs", str(FIXTURES / "three_broken_files")) == 1
    assert run("validate", "--specs", str(tmp_path / "nope")) == 2


def test_plan_of_broken_specs_prints_the_located_errors_only_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.dev.yaml").write_text("config: {}\n")
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "model.yaml").write_text("apiVersion: mlplat/v1\nkind: Model\nmetadata: {name: '[/]'}\n")
    result = runner.invoke(app, ["plan", "--stack", "dev", "--repo", str(tmp_path)])
    assert result.exit_code == 1
    assert "model.yaml:3:" in result.output
    assert "[/]" in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
