"""`mlplat-serve models` and `mlplat-serve decisions` are thin shells: bad input exits non-zero naming what is wrong."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from services.cli import app


def test_serve_models_refuses_a_bad_variable_with_exit_code_2() -> None:
    result = CliRunner().invoke(app, ["models", "--model", "fraud"], env={"MLPLAT_PORT": "eighty"})
    assert result.exit_code == 2
    assert "MLPLAT_PORT='eighty': Input should be a valid integer" in result.output


def test_serve_models_names_an_unknown_model_and_a_missing_snapshot(tmp_path: Path, specs_dir: Path) -> None:
    env = {"MLPLAT_ONLINE_STORE_URL": "redis://127.0.0.1:1/0", "MLPLAT_DECISION_LOG": str(tmp_path / "decisions")}
    unknown = CliRunner().invoke(app, ["models", "--specs", str(specs_dir), "--model", "nope"], env=env)
    assert unknown.exit_code == 1
    assert "model 'nope' does not exist" in unknown.output
    missing = CliRunner().invoke(app, ["models", "--specs", str(tmp_path / "catalog.json")], env=env)
    assert missing.exit_code == 2
    assert "is neither a catalog snapshot file nor a spec directory" in missing.output


def test_serve_models_takes_the_deployment_options() -> None:
    import typer

    group = typer.main.get_command(app)
    options = {name for param in group.commands["models"].params for name in param.opts}  # type: ignore[attr-defined]
    assert {"--specs", "--model", "--artifacts", "--online-store", "--host", "--port"} <= options


def test_decisions_prints_the_records_of_a_running_log_and_finds_one_by_id(tmp_path: Path) -> None:
    from services.model_server.decision_log import LogEntry
    from services.model_server.segmented_log import MIN_SEGMENT_BYTES, SegmentedFileSink

    sink = SegmentedFileSink(tmp_path / "decisions", segment_bytes=MIN_SEGMENT_BYTES)
    sink.write_batch([LogEntry(f"d-{i}", b'{"id": "d-%d", "decision": "approve"}' % i) for i in range(3)])
    # still running: the active segment ends in zero padding
    everything = CliRunner().invoke(app, ["decisions", "--decision-log", str(tmp_path / "decisions")])
    assert everything.exit_code == 0, everything.output
    assert everything.stdout.splitlines() == [f'{{"decision": "approve", "id": "d-{i}"}}' for i in range(3)]
    one = CliRunner().invoke(app, ["decisions", "--decision-log", str(tmp_path / "decisions"), "--id", "d-1"])
    assert one.stdout == '{"decision": "approve", "id": "d-1"}\n'
    sink.close()
    absent = CliRunner().invoke(app, ["decisions", "--decision-log", str(tmp_path / "decisions"), "--id", "d-9"])
    assert absent.exit_code == 1
    assert "no record of decision d-9" in absent.output
    wrong = CliRunner().invoke(app, ["decisions", "--decision-log", str(tmp_path / "elsewhere")])
    assert wrong.exit_code == 2
    assert "is not a decision log directory" in wrong.output


def test_decisions_filters_by_caller(tmp_path: Path) -> None:
    from services.model_server.decision_log import LogEntry
    from services.model_server.segmented_log import MIN_SEGMENT_BYTES, SegmentedFileSink

    sink = SegmentedFileSink(tmp_path / "decisions", segment_bytes=MIN_SEGMENT_BYTES)
    callers = ["checkout_api", "model_validation", "checkout_api"]
    sink.write_batch(
        [
            LogEntry(f"d-{i}", b'{"id": "d-%d", "caller": {"name": "%s"}}' % (i, c.encode()))
            for i, c in enumerate(callers)
        ]
    )
    sink.close()
    found = CliRunner().invoke(
        app, ["decisions", "--decision-log", str(tmp_path / "decisions"), "--caller", "checkout_api"]
    )
    assert found.exit_code == 0, found.output
    assert [line.split('"id": ')[1] for line in found.stdout.splitlines()] == ['"d-0"}', '"d-2"}']
