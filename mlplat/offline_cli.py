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
from mlplat.synthetic import SyntheticConfig, generate

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
