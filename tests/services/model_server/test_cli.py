"""`mlplat serve models` is a thin shell: bad settings exit 2 naming the variable."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from mlplat.cli import app


def test_serve_models_refuses_a_bad_variable_with_exit_code_2() -> None:
    result = CliRunner().invoke(app, ["serve", "models", "--model", "fraud"], env={"MLPLAT_PORT": "eighty"})
    assert result.exit_code == 2
    assert "MLPLAT_PORT='eighty' is not a whole number" in result.output


def test_serve_models_names_an_unknown_model_and_a_missing_snapshot(tmp_path: Path, specs_dir: Path) -> None:
    env = {"MLPLAT_ONLINE_STORE_URL": "redis://127.0.0.1:1/0", "MLPLAT_DECISION_LOG": str(tmp_path / "d.jsonl")}
    unknown = CliRunner().invoke(app, ["serve", "models", "--catalog", str(specs_dir), "--model", "nope"], env=env)
    assert unknown.exit_code == 1
    assert "model 'nope' does not exist" in unknown.output
    missing = CliRunner().invoke(app, ["serve", "models", "--catalog", str(tmp_path / "catalog.json")], env=env)
    assert missing.exit_code == 2
    assert "is not a readable catalog snapshot" in missing.output


def test_serve_models_takes_the_deployment_options() -> None:
    import typer

    group = typer.main.get_command(app)
    serve = group.commands["serve"]  # type: ignore[attr-defined]
    options = {name for param in serve.commands["models"].params for name in param.opts}
    assert {"--catalog", "--model", "--artifacts", "--store", "--host", "--port"} <= options
