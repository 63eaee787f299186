"""`mlplat serve models` is a thin shell: bad settings exit 2 naming the variable."""

from __future__ import annotations

from typer.testing import CliRunner

from mlplat.cli import app


def test_serve_models_refuses_a_bad_variable_with_exit_code_2() -> None:
    result = CliRunner().invoke(app, ["serve", "models", "--model", "fraud"], env={"MLPLAT_PORT": "eighty"})
    assert result.exit_code == 2
    assert "MLPLAT_PORT='eighty' is not a whole number" in result.output


def test_serve_models_takes_the_deployment_options() -> None:
    import typer

    group = typer.main.get_command(app)
    serve = group.commands["serve"]  # type: ignore[attr-defined]
    options = {name for param in serve.commands["models"].params for name in param.opts}
    assert {"--catalog", "--model", "--artifacts", "--store", "--host", "--port"} <= options
