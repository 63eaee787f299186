"""Every command of both command lines prints its help, and one spelling names each concept."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import typer
from typer.core import TyperGroup, TyperOption
from typer.testing import CliRunner

from mlplat.cli import app as mlplat_app
from services.cli import app as serve_app


def _commands(group: object, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], typer.core.TyperCommand]]:
    yield path, group  # type: ignore[misc]
    # Typer builds on its own copy of click: `click.Group` is not the class of its groups.
    if isinstance(group, TyperGroup):
        for name, command in group.commands.items():
            yield from _commands(command, (*path, name))


COMMANDS = [
    (name, app, path, command)
    for name, app in (("mlplat", mlplat_app), ("mlplat-serve", serve_app))
    for path, command in _commands(typer.main.get_command(app))
]


@pytest.mark.parametrize(("name", "app", "path"), [(n, a, p) for n, a, p, _ in COMMANDS], ids=str)
def test_help_of_every_command_prints(name: str, app: typer.Typer, path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert result.exception is None


def test_serve_models_help_shows_brackets_as_written() -> None:
    result = CliRunner().invoke(serve_app, ["models", "--help"])
    assert "s3://bucket[/prefix]" in result.output


#: The one spelling of each concept, and the variable every command reads for it.
CONCEPTS = {
    "specs": ("--specs", "MLPLAT_CATALOG"),
    "data": ("--data", "MLPLAT_OFFLINE_ROOT"),
    "artifacts": ("--artifacts", "MLPLAT_ARTIFACT_ROOT"),
    "online_store": ("--online-store", "MLPLAT_ONLINE_STORE_URL"),
    "registry": ("--registry", "MLPLAT_REGISTRY_URL"),
    "namespace": ("--namespace", "MLPLAT_ONLINE_STORE_NAMESPACE"),
}
RETIRED = {"--catalog", "--store", "--out", "--online_store"}


def test_each_concept_has_one_spelling_and_one_variable_across_all_commands() -> None:
    for name, _, path, command in COMMANDS:
        for param in command.params:
            assert not set(param.opts) & RETIRED, (name, path, param.opts)
            if param.name in CONCEPTS and isinstance(param, TyperOption):
                spelling, variable = CONCEPTS[param.name]
                assert param.opts == [spelling], (name, path, param.opts)
                # The services' commands read their variables through their settings instead.
                assert param.envvar == variable or name == "mlplat-serve", (name, path, param.name)
