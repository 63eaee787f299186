"""The offline commands of ``mlplat``: synthetic data, training, materialization.

A thin shell: each command calls library code and renders what it returns. The offline
libraries (pyarrow, DuckDB, SQLAlchemy, the model trainers) are imported by the commands
that use them, not here: the service images ship this CLI without them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mlplat.catalog import Catalog
from mlplat.console import (
    DEFAULT_ARTIFACTS,
    DEFAULT_DATA,
    DEFAULT_ONLINE_STORE,
    DEFAULT_REGISTRY,
    DEFAULT_SPECS,
    ArtifactsOption,
    DataOption,
    NamespaceOption,
    OnlineStoreOption,
    RegistryOption,
    SpecsOption,
    err,
    fail,
    load_specs,
    out,
    typer_app,
)
from mlplat.errors import MlplatError, UsageError
from mlplat.offline.engine import DEFAULT_BATCH_ROWS, Engine
from mlplat.online_store import DEFAULT_NAMESPACE

if TYPE_CHECKING:
    from mlplat.offline.materialize import MaterializationResult, MaterializeOptions, OnlineTarget
    from mlplat.training import TrainOptions


def generate_data(
    data: DataOption = DEFAULT_DATA,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed writes byte-identical files.")] = 7,
    applicants: Annotated[int, typer.Option(help="Number of applicants (50-200000).")] = 3000,
    specs: SpecsOption = DEFAULT_SPECS,
) -> None:
    """Write seeded synthetic sources and labelled loans for the example specs into --data."""
    from mlplat.synthetic import SyntheticConfig, generate  # noqa: PLC0415 - see the module docstring

    try:
        written = generate(load_specs(specs), data, SyntheticConfig(seed=seed, applicants=applicants))
    except MlplatError as error:
        raise fail(error) from None
    table = Table(title=f"synthetic data (seed {seed})")
    table.add_column("source")
    table.add_column("file")
    table.add_column("rows", justify="right")
    for file in written:
        table.add_row(file.source, str(file.path), f"{file.rows:,}")
    out.print(table)


def train(
    model: Annotated[str, typer.Argument(help="Name of the Model spec to train.")],
    data: DataOption = DEFAULT_DATA,
    artifacts: ArtifactsOption = DEFAULT_ARTIFACTS,
    version: Annotated[str | None, typer.Option(help="Version to train. Default: the newest in the spec.")] = None,
    engine: Annotated[Engine, typer.Option(help="Engine of the point-in-time join.")] = Engine.DUCKDB,
    registry: RegistryOption = DEFAULT_REGISTRY,
    specs: SpecsOption = DEFAULT_SPECS,
    verify: Annotated[
        bool,
        typer.Option("--verify", help="Rebuild the version from its model card and check its sha256; write nothing."),
    ] = False,
    profile_only: Annotated[
        bool,
        typer.Option(
            "--profile-only",
            help="Write the trained version's reference profile (profile.json) from its training set; do not retrain.",
        ),
    ] = False,
) -> None:
    """Train MODEL from its spec; write the artifact, its sha256, metrics and model card; record the version."""
    from mlplat.registry import Registry  # noqa: PLC0415 - see the module docstring
    from mlplat.training import TrainOptions, train_model  # noqa: PLC0415

    try:
        catalog = load_specs(specs)
        options = TrainOptions(data_root=data, artifact_root=artifacts, version=version, engine=engine)
        if verify:
            _verify(catalog, model, options)
            return
        if profile_only:
            _profile_only(catalog, model, options)
            return
        opened = Registry.open(registry)
        try:
            trained = train_model(catalog, model, options, opened)
        finally:
            opened.close()
    except MlplatError as error:
        raise fail(error) from None
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
    out.print(f"profile  {trained.profile_path}")


def _profile_only(catalog: Catalog, model: str, options: TrainOptions) -> None:
    from mlplat.training.reference import write_profile_only  # noqa: PLC0415 - see the module docstring

    version = options.version or catalog.model(model).spec.versions[-1].name
    path = write_profile_only(catalog, model, version, options.data_root, options.artifact_root)
    out.print(f"profile  {path}")


def _verify(catalog: Catalog, model: str, options: TrainOptions) -> None:
    from mlplat.training.trainer import verify_model  # noqa: PLC0415 - see the module docstring

    result = verify_model(catalog, model, options)
    for difference in result.differences:
        out.print(f"differs: {difference}")
    if not result.reproduced:
        err.print(
            f"[red]{result.model} {result.version} not reproduced:[/red] the card records sha256 {result.card_sha256}, "
            f"the rebuild gives {result.rebuilt_sha256}",
            markup=True,
        )
        raise typer.Exit(1)
    out.print(f"[green]{result.model} {result.version} reproduced[/green]: sha256 {result.rebuilt_sha256}", markup=True)


def _moment(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} {value!r} is not an ISO time; write e.g. 2025-06-01T00:00:00Z") from None


def _materialize_locally(
    catalog: Catalog, views: list[str], target: OnlineTarget, registry_url: str, options: MaterializeOptions
) -> list[MaterializationResult]:
    from mlplat.offline.materialize import materialize  # noqa: PLC0415 - see the module docstring
    from mlplat.registry import Registry  # noqa: PLC0415

    registry = Registry.open(registry_url)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=err, transient=False) as bar:
            tasks = {view: bar.add_task(view, total=None) for view in views}

            def updater(view: str) -> Callable[[int, int], None]:
                return lambda done, total: bar.update(tasks[view], completed=done, total=total)

            return materialize(catalog, views, target, registry, options, progress={v: updater(v) for v in views})
    finally:
        registry.close()


def _results_table(results: list[MaterializationResult]) -> Table:
    table = Table(title="materialization")
    for column in ("view", "window start", "window end", "rows", "applied", "watermark"):
        table.add_column(column, justify="right" if column in ("rows", "applied") else "left")
    for r in results:
        if r.skipped is not None:
            table.add_row(r.view, "-", "-", "skipped", "-", _utc(r.watermark))
            continue
        table.add_row(
            r.view, _utc(r.window.start), _utc(r.window.end), f"{r.rows:,}", f"{r.applied:,}", _utc(r.watermark)
        )
    return table


def _state_printer(view: str) -> Callable[[str], None]:
    def show(state: str) -> None:
        err.print(f"{view}: {state}")

    return show


def _utc(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%SZ")


def _materialize_on_emr(
    views: list[str], stack: str, outputs: Path | None, start: datetime | None, end: datetime | None
) -> bool:
    import boto3  # noqa: PLC0415 - only --stack talks to AWS

    from mlplat.offline.emr import follow, load_stack_settings, submit  # noqa: PLC0415 - boto3 only when used

    settings = load_stack_settings(stack, outputs)
    client = boto3.client("emr-serverless", region_name=settings.region)
    ok = True
    for view in views:
        run_id = submit(client, settings, view, start=start, end=end)
        err.print(f"{view}: job run {run_id} submitted to application {settings.emr_application_id}")
        outcome = follow(client, settings, run_id, on_state=_state_printer(view))
        colour = "green" if outcome.succeeded else "red"
        out.print(f"[{colour}]{view}: {outcome.state}[/{colour}] {outcome.details}".rstrip(), markup=True)
        if not outcome.succeeded:
            out.print(f"  logs: {outcome.log_uri}")
            ok = False
    return ok


def materialize_command(
    view: Annotated[str | None, typer.Option(help="One view. Default: every online view.")] = None,
    start: Annotated[str | None, typer.Option(help="Backfill from this ISO time. Default: the watermark.")] = None,
    end: Annotated[str | None, typer.Option(help="Up to this ISO time (exclusive). Default: now.")] = None,
    engine: Annotated[Engine, typer.Option(help="duckdb on this machine, or spark (local).")] = Engine.DUCKDB,
    data: DataOption = DEFAULT_DATA,
    online_store: OnlineStoreOption = DEFAULT_ONLINE_STORE,
    namespace: NamespaceOption = DEFAULT_NAMESPACE,
    registry: RegistryOption = DEFAULT_REGISTRY,
    batch_rows: Annotated[int, typer.Option(help="Rows per online-store write.")] = DEFAULT_BATCH_ROWS,
    stack: Annotated[
        str | None, typer.Option(help="Run on the stack's EMR Serverless application instead, and follow it.")
    ] = None,
    outputs: Annotated[
        Path | None, typer.Option(help="Stack outputs JSON. Default: .mlplat/stacks/STACK.json.")
    ] = None,
    specs: SpecsOption = DEFAULT_SPECS,
) -> None:
    """Copy the latest feature values into the online store (locally, or on EMR with --stack)."""
    from mlplat.offline.materialize import (  # noqa: PLC0415 - see the module docstring
        MaterializeOptions,
        OnlineTarget,
        materializable_views,
    )

    try:
        catalog = load_specs(specs)
        views = materializable_views(catalog, view)
        window_start, window_end = _moment(start, "--start"), _moment(end, "--end")
        if stack is not None:
            if not _materialize_on_emr(views, stack, outputs, window_start, window_end):
                raise typer.Exit(1)
            return
        options = MaterializeOptions(data, engine=engine, batch_rows=batch_rows, start=window_start, end=window_end)
        target = OnlineTarget(online_store, namespace)
        results = _materialize_locally(catalog, views, target, registry, options)
    except MlplatError as error:
        raise fail(error) from None
    out.print(_results_table(results))
    for result in results:
        for run_id in result.failed_runs:
            out.print(f"{result.view}: run {run_id} had died (left running); marked failed")
        if result.skipped is not None:
            out.print(f"{result.view}: skipped, {result.skipped}")


registry_app = typer_app(None, "Read the registry database: materialization runs, model versions.")


@registry_app.command("runs")
def registry_runs(
    view: Annotated[str | None, typer.Option(help="Only this view.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Latest materialization runs, with each view's watermark."""
    from mlplat.registry import Registry  # noqa: PLC0415 - see the module docstring

    try:
        opened = Registry.open(registry)
        try:
            runs = opened.runs(view, limit)
            watermarks = {name: opened.watermark(name) for name in sorted({r.view for r in runs})}
        finally:
            opened.close()
    except MlplatError as error:
        raise fail(error) from None
    table = Table(title="materialization runs")
    for column in ("id", "view", "engine", "status", "window start", "window end", "rows", "finished"):
        table.add_column(column, justify="right" if column in ("id", "rows") else "left")
    for run in runs:
        status = run.status.value if run.error is None else f"{run.status.value}: {run.error}"
        table.add_row(
            str(run.id),
            run.view,
            run.engine,
            status,
            _utc(run.window_start),
            _utc(run.window_end),
            f"{run.rows_written:,}",
            _utc(run.finished_at),
        )
    out.print(table)
    for name, watermark in watermarks.items():
        out.print(f"watermark {name}: {_utc(watermark)}")


@registry_app.command("versions")
def registry_versions(
    model: Annotated[str, typer.Argument(help="Model name.")],
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Recorded versions of MODEL with their sha256 and holdout metrics."""
    from mlplat.registry import Registry  # noqa: PLC0415 - see the module docstring

    try:
        opened = Registry.open(registry)
        try:
            versions = opened.model_versions(model)
        finally:
            opened.close()
    except MlplatError as error:
        raise fail(error) from None
    table = Table(title=f"versions of {model}")
    for column in ("version", "sha256", "artifact", "holdout AUC", "recorded"):
        table.add_column(column)
    for record in versions:
        auc = record.metrics.get("holdout_auc")
        table.add_row(
            record.version,
            record.sha256,
            record.artifact_uri,
            "-" if auc is None else f"{auc:.3f}",
            _utc(record.created_at),
        )
    out.print(table)
