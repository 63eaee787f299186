"""The offline commands of ``mlplat``: synthetic data, training, materialization.

A thin shell: each command calls library code and renders what it returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from mlplat.errors import MlplatError, exit_code_of
from mlplat.loader import load_catalog
from mlplat.offline.training_set import Engine
from mlplat.registry import Registry
from mlplat.synthetic import SyntheticConfig, generate
from mlplat.training import TrainOptions, train_model

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

SpecsOption = Annotated[Path, typer.Option("--specs", help="Directory of spec files.")]
DataOption = Annotated[Path, typer.Option("--data", help="Offline root: where the sources' relative paths live.")]
DEFAULT_DATA = Path(".mlplat/data")


def _fail(error: MlplatError) -> typer.Exit:
    err.print(f"[red]error:[/red] {error}", markup=True)
    return typer.Exit(exit_code_of(error))


def generate_data(
    out_dir: Annotated[
        Path, typer.Option("--out", help="Offline root to write the parquet files into.")
    ] = DEFAULT_DATA,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed writes byte-identical files.")] = 7,
    applicants: Annotated[int, typer.Option(help="Number of applicants (50-200000).")] = 3000,
    specs: SpecsOption = Path("specs"),
) -> None:
    """Write seeded synthetic sources and labelled loans for the example specs."""
    try:
        written = generate(load_catalog(specs), out_dir, SyntheticConfig(seed=seed, applicants=applicants))
    except MlplatError as error:
        raise _fail(error) from None
    table = Table(title=f"synthetic data (seed {seed})")
    table.add_column("source")
    table.add_column("file")
    table.add_column("rows", justify="right")
    for file in written:
        table.add_row(file.source, str(file.path), f"{file.rows:,}")
    out.print(table)


DEFAULT_REGISTRY = "sqlite:///.mlplat/registry.db"
RegistryOption = Annotated[
    str,
    typer.Option("--registry", help="Registry database URL (sqlite:///file.db or mysql+pymysql://user@host/db)."),
]


def train(
    model: Annotated[str, typer.Argument(help="Name of the Model spec to train.")],
    data: DataOption = DEFAULT_DATA,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Artifact root; the spec's artifact URIs are below it.")
    ] = Path("models"),
    version: Annotated[str | None, typer.Option(help="Version to train. Default: the newest in the spec.")] = None,
    engine: Annotated[Engine, typer.Option(help="Engine of the point-in-time join.")] = Engine.DUCKDB,
    registry: RegistryOption = DEFAULT_REGISTRY,
    specs: SpecsOption = Path("specs"),
) -> None:
    """Train MODEL from its spec; write the artifact, its sha256, metrics and model card; record the version."""
    try:
        catalog = load_catalog(specs)
        options = TrainOptions(data_root=data, artifact_root=out_dir, version=version, engine=engine)
        opened = Registry.open(registry)
        try:
            trained = train_model(catalog, model, options, opened)
        finally:
            opened.close()
    except MlplatError as error:
        raise _fail(error) from None
    table = Table(title=f"{trained.model} {trained.version} ({trained.framework})")
    table.add_column("set")
    table.add_column("events", justify="right")
    table.add_column("bad rate", justify="right")
    table.add_column("AUC", justify="right")
    table.add_column("KS", justify="right")
    table.add_column("Brier", justify="right")
    for name, evaluation in (("train", trained.train), ("holdout", trained.holdout)):
        table.add_row(
            name,
            f"{evaluation.count:,}",
            f"{evaluation.base_rate:.3f}",
            f"{evaluation.auc:.3f}",
            f"{evaluation.ks:.3f}",
            f"{evaluation.brier:.4f}",
        )
    out.print(table)
    out.print(f"artifact {trained.artifact_path}\nsha256   {trained.sha256}\ncard     {trained.card_path}")
