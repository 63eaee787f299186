"""The command line's boundary, shared by every command (``mlplat`` and ``mlplat-serve``).

One pair of consoles (results on stdout, progress and errors on stderr), one error
handler, and one spelling per concept: each option below is the only way any command
names its concept, and each reads the same ``MLPLAT_*`` variable the services read.
Help text is plain text, never rich markup: ``s3://bucket[/prefix]`` is printed as written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from mlplat.catalog import Catalog
from mlplat.errors import MlplatError, UsageError, exit_code_of

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(error: MlplatError) -> typer.Exit:
    """Print ``error`` for a person (its text escaped: never markup) and return the exit carrying its code."""
    err.print(f"[red]error:[/red] {escape(str(error))}", markup=True)
    return typer.Exit(exit_code_of(error))


def typer_app(name: str | None, help_text: str) -> typer.Typer:
    """A command group whose help is plain text and whose errors are never Python tracebacks."""
    return typer.Typer(
        name=name,
        help=help_text,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        rich_markup_mode=None,
    )


def load_specs(path: Path) -> Catalog:
    """The catalog of a spec directory, or of a catalog snapshot (``.json``)."""
    from mlplat.loader import load_catalog  # noqa: PLC0415 - the loader pulls in pydantic models

    if path.suffix == ".json" and path.is_file():
        import json  # noqa: PLC0415

        try:
            return Catalog.from_snapshot(json.loads(path.read_text(encoding="utf-8")))
        except ValueError as error:
            raise UsageError(f"{path} is not a catalog snapshot: {error}") from None
    return load_catalog(path)


DEFAULT_SPECS = Path("specs")
DEFAULT_DATA = Path(".mlplat/data")
DEFAULT_ARTIFACTS = Path("models")
DEFAULT_REGISTRY = "sqlite:///.mlplat/registry.db"
DEFAULT_ONLINE_STORE = "sqlite:///.mlplat/online.db"

SpecsOption = Annotated[
    Path, typer.Option("--specs", envvar="MLPLAT_CATALOG", help="Spec directory (or a catalog snapshot .json).")
]
DataOption = Annotated[
    Path,
    typer.Option("--data", envvar="MLPLAT_OFFLINE_ROOT", help="Offline root: where the sources' relative paths live."),
]
ArtifactsOption = Annotated[
    Path,
    typer.Option(
        "--artifacts", envvar="MLPLAT_ARTIFACT_ROOT", help="Artifact root: the specs' artifact URIs are below it."
    ),
]
RegistryOption = Annotated[
    str,
    typer.Option(
        "--registry",
        envvar="MLPLAT_REGISTRY_URL",
        help="Registry database URL (sqlite:///file.db or mysql+pymysql://user@host/db).",
    ),
]
OnlineStoreOption = Annotated[
    str,
    typer.Option(
        "--online-store", envvar="MLPLAT_ONLINE_STORE_URL", help="Online store URL (redis://, rediss://, sqlite:///)."
    ),
]
NamespaceOption = Annotated[
    str, typer.Option("--namespace", envvar="MLPLAT_ONLINE_STORE_NAMESPACE", help="Online store key namespace.")
]
DecisionLogOption = Annotated[
    Path,
    typer.Option(
        "--decision-log",
        envvar="MLPLAT_DECISION_LOG",
        help="Decision log directory of a model server; `mlplat up` writes .mlplat/decisions.",
    ),
]
RepoOption = Annotated[
    Path, typer.Option("--repo", help="Repository root (specs/, models/ and Pulumi.*.yaml below it).")
]
