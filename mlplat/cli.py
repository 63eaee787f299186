"""The ``mlplat`` command: a thin shell over library functions.

Library code returns data; this module renders it (rich text or JSON) and maps
errors to exit codes through :func:`mlplat.errors.exit_code_of`: 0 clean, 1 spec
errors, 2 usage errors.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlplat.catalog import Catalog
from mlplat.diagnostics import Severity
from mlplat.errors import MlplatError, NotFoundError, UsageError, exit_code_of
from mlplat.loader import ValidationResult, load_catalog, validate_directory
from mlplat.offline_cli import generate_data, materialize_command, registry_app, train
from mlplat.schema import json_schema_text, markdown_reference

if TYPE_CHECKING:
    from mlplat.local_platform import LocalIdentity, LocalSettings

app = typer.Typer(
    name="mlplat",
    help="mlplat: a machine-learning platform defined as code.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class SchemaFormat(StrEnum):
    JSON = "json"
    MARKDOWN = "markdown"


SpecDir = Annotated[Path, typer.Argument(help="Directory of spec files (searched recursively).")]


def fail(error: MlplatError) -> typer.Exit:
    """Print ``error`` for a person and return the exit carrying its code."""
    err.print(f"[red]error:[/red] {escape(str(error))}", markup=True)
    return typer.Exit(exit_code_of(error))


def summary_table(catalog: Catalog) -> Table:
    """One row per kind with its count and names."""
    table = Table(title="catalog", show_lines=False)
    table.add_column("kind")
    table.add_column("count", justify="right")
    table.add_column("names")
    features = sum(len(view.spec.features) for view in catalog.feature_views.values())
    rows = [
        ("Entity", catalog.entities),
        ("Source", catalog.sources),
        (f"FeatureView ({features} features)", catalog.feature_views),
        ("FeatureService", catalog.feature_services),
        ("Model", catalog.models),
        ("Caller", catalog.callers),
    ]
    for kind, objects in rows:
        table.add_row(kind, str(len(objects)), ", ".join(objects))
    return table


def _render_text(result: ValidationResult) -> None:
    for diagnostic in result.diagnostics:
        colour = "red" if diagnostic.severity is Severity.ERROR else "yellow"
        # Escaped: spec text such as a label '[bold]' is the user's, not rich markup.
        out.print(f"[{colour}]{escape(str(diagnostic))}[/{colour}]", markup=True)
    if result.catalog is None:
        out.print(
            f"[red]{len(result.errors)} error(s), {len(result.warnings)} warning(s) in {result.files} file(s)[/red]"
        )
        return
    out.print(summary_table(result.catalog))
    out.print(
        f"[green]ok[/green]: {result.files} file(s), {len(result.warnings)} warning(s), catalog {result.catalog.digest[:12]}"
    )


@app.command()
def validate(
    directory: SpecDir = Path("specs"),
    output: Annotated[
        OutputFormat, typer.Option("--format", help="text for people, json for machines.")
    ] = OutputFormat.TEXT,
) -> None:
    """Check every spec below DIRECTORY; exit 1 on any error, listing all of them."""
    try:
        result = validate_directory(directory)
    except MlplatError as error:
        raise fail(error) from None
    if output is OutputFormat.JSON:
        payload = {
            "ok": result.catalog is not None,
            "files": result.files,
            "digest": result.catalog.digest if result.catalog else None,
            "diagnostics": [d.as_dict() for d in result.diagnostics],
        }
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    else:
        _render_text(result)
    if result.catalog is None:
        raise typer.Exit(1)


@app.command()
def schema(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write; stdout when left out.")] = None,
    kind: Annotated[
        SchemaFormat, typer.Option("--format", help="json: JSON Schema for editors; markdown: the spec reference.")
    ] = SchemaFormat.JSON,
) -> None:
    """Write the JSON Schema of the spec kinds (or their markdown reference)."""
    text = json_schema_text() if kind is SchemaFormat.JSON else markdown_reference()
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {output}")


app.command("generate-data")(generate_data)
app.command()(train)
app.command("materialize")(materialize_command)
app.add_typer(registry_app, name="registry")

serve_app = typer.Typer(help="Run the platform's services.", no_args_is_help=True)
app.add_typer(serve_app, name="serve")


@serve_app.command("models")
def serve_models(
    catalog: Annotated[Path | None, typer.Option(help="Spec directory or catalog snapshot (.json).")] = None,
    model: Annotated[list[str] | None, typer.Option(help="Model to serve (repeatable). Default: all.")] = None,
    artifacts: Annotated[str | None, typer.Option(help="Artifact root: a directory or s3://bucket[/prefix].")] = None,
    store: Annotated[str | None, typer.Option(help="Online store URL (redis://, rediss://, sqlite://).")] = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Serve models: Open Inference Protocol (V2) and credit decisions. Options override MLPLAT_* variables."""
    import os  # noqa: PLC0415 - the server's imports are paid only by `serve`

    from services.model_server.server import serve  # noqa: PLC0415
    from services.model_server.settings import Settings  # noqa: PLC0415

    try:
        settings = Settings.from_env(os.environ).overridden(
            catalog=catalog,
            models=tuple(model or ()),
            artifact_root=artifacts,
            online_store_url=store,
            host=host,
            port=port,
        )
        serve(settings)
    except MlplatError as error:
        raise fail(error) from None


@serve_app.command("features")
def serve_features(
    catalog: Annotated[Path | None, typer.Option(help="Catalog snapshot (.json) or spec directory.")] = None,
    store: Annotated[str | None, typer.Option(help="Online store URL (redis://, rediss://, sqlite:///).")] = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
) -> None:
    """Serve online features (Feast-compatible HTTP). Options override MLPLAT_* variables."""
    from services.feature_server.main import run, settings_from_environment  # noqa: PLC0415 - paid only by `serve`

    try:
        settings = settings_from_environment(
            catalog=catalog, online_store_url=store, host=host, port=port, workers=workers
        )
        run(settings)
    except MlplatError as error:
        raise fail(error) from None


@app.command("decisions")
def decisions_command(
    log: Annotated[
        Path, typer.Argument(help="Decision log directory (MLPLAT_DECISION_LOG); `mlplat up` writes .mlplat/decisions.")
    ] = Path(".mlplat/decisions"),
    decision_id: Annotated[str | None, typer.Option("--id", help="Only the records of this decision id.")] = None,
    caller: Annotated[
        str | None, typer.Option("--caller", help="Only the records of this caller (a Caller name of the specs).")
    ] = None,
) -> None:
    """Print decision records as JSON lines, oldest first (a running server's log too)."""
    from services.model_server.segmented_log import read_decision_log  # noqa: PLC0415 - paid only here

    if not log.is_dir():
        raise fail(UsageError(f"{log} is not a decision log directory; pass the server's MLPLAT_DECISION_LOG"))
    found = False
    for record in read_decision_log(log):
        if decision_id is not None and record.get("id") != decision_id:
            continue
        if caller is not None and (record.get("caller") or {}).get("name") != caller:
            continue
        found = True
        sys.stdout.write(json.dumps(record, sort_keys=True) + "\n")
    if decision_id is not None and not found:
        raise fail(NotFoundError(f"no record of decision {decision_id} in {log}"))


catalog_app = typer.Typer(help="Work with the catalog.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")


@catalog_app.command("snapshot")
def catalog_snapshot(
    directory: SpecDir = Path("specs"),
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write; stdout when left out.")] = None,
) -> None:
    """Write the catalog's JSON snapshot, which the services start from (MLPLAT_CATALOG)."""
    try:
        text = json.dumps(load_catalog(directory).to_snapshot(), indent=2, sort_keys=True) + "\n"
    except MlplatError as error:
        raise fail(error) from None
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {output}")


def main() -> None:
    """Console entry point."""
    app()


class PlanFormat(StrEnum):
    TEXT = "text"
    MARKDOWN = "markdown"
    JSON = "json"


@app.command("plan")
def plan_command(
    stacks: Annotated[list[str], typer.Option("--stack", help="Stack to plan (dev, staging, prod); repeatable.")],
    base: Annotated[str, typer.Option("--base", help="Git ref to compare the working tree with.")] = "main",
    output: Annotated[
        PlanFormat, typer.Option("--format", help="text, markdown (PR comment) or json.")
    ] = PlanFormat.TEXT,
    repo: Annotated[Path, typer.Option("--repo", help="Repository root.")] = Path(),
) -> None:
    """Show what the working tree changes in each stack compared with --base, without cloud credentials."""
    from mlplat import plan as planning  # noqa: PLC0415 - keeps `mlplat validate` free of git and subprocesses

    try:
        plans = [planning.plan(repo.resolve(), stack, base) for stack in stacks]
    except MlplatError as error:
        raise fail(error) from None
    if output is PlanFormat.JSON:
        sys.stdout.write(json.dumps([p.as_dict() for p in plans], indent=2, default=str) + "\n")
    elif output is PlanFormat.MARKDOWN:
        sys.stdout.write(planning.to_markdown(plans))
    else:
        for item in plans:
            out.print(f"[bold]stack {item.stack}[/bold] against {item.base}")
            for change in item.changes:
                colour = "red" if change.dangerous else {"add": "green", "remove": "red"}.get(change.action, "yellow")
                flag = "  [bold red]STATEFUL[/bold red]" if change.dangerous else ""
                out.print(f"  [{colour}]{change.action.value:8}[/{colour}] {change.type} {change.name}{flag}")
                for prop in change.properties:
                    out.print(f"             {prop.path}: {prop.before!r} -> {prop.after!r}")
            if not item.changes:
                out.print("  no changes")


@app.command("up")
def up(
    repo: Annotated[Path, typer.Option("--repo", help="Repository root (specs/ and models/ below it).")] = Path(),
    feature_port: Annotated[int, typer.Option(help="Feature server port.")] = 6566,
    model_port: Annotated[int, typer.Option(help="Model server port.")] = 8080,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Serve without verifying callers' tokens (anyone may call anything).")
    ] = False,
) -> None:
    """Run the whole platform locally: data, models, online store, feature and model servers. Ctrl-C stops it.

    Embedded stores by default; MLPLAT_ONLINE_STORE_URL (redis://...) and MLPLAT_REGISTRY_URL
    (mysql+pymysql://...) use real servers instead. Callers authenticate as on a cluster: a
    local issuer signs one service account token per Caller of the specs
    (.mlplat/identity/tokens/<caller>.token) and the services verify them.
    """
    import os  # noqa: PLC0415 - `up` pulls in the offline engines; other commands stay light
    import signal  # noqa: PLC0415

    from mlplat import local_platform as local  # noqa: PLC0415

    # SIGTERM (a supervisor, a test) stops the platform as Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    settings = local.LocalSettings.from_environment(
        repo.resolve(), os.environ, feature_port=feature_port, model_port=model_port, authenticate=not no_auth
    )
    running = None
    identity = None
    try:
        catalog = load_catalog(settings.specs)
        out.print(f"[bold]mlplat[/bold] local platform · state in {settings.state_dir}")
        data = local.live_data(catalog, settings, local.today_utc())
        out.print(f"data        {data}")
        for artifact in local.ensure_models(catalog, settings, lambda line: out.print(f"            {line}")):
            how = "trained" if artifact.trained else "verified"
            out.print(f"model       {artifact.model} {artifact.version} {how} sha256 {artifact.sha256[:12]}")
        for result in local.fill_online_store(catalog, settings, data):
            out.print(f"materialize {result.view}: {result.rows:,} rows into {settings.online_store_url}")
        identity = _start_identity(catalog, settings)
        running = local.start_services(settings, identity)
        running.wait_ready()
        model = next(iter(catalog.models))
        token = local.decision_caller(catalog, model, identity)
        _print_endpoints(settings, model, local.sample_decision(catalog, data, model), token)
        code = running.wait()
        raise typer.Exit(code or 0)
    except KeyboardInterrupt:
        out.print("stopping ...")
    except MlplatError as error:
        raise fail(error) from None
    finally:
        if running is not None:
            running.stop()
        elif identity is not None:
            identity.issuer.stop()


def _start_identity(catalog: Catalog, settings: LocalSettings) -> LocalIdentity | None:
    from mlplat import local_platform as local  # noqa: PLC0415 - `up` only

    if not settings.authenticate:
        err.print(
            "[bold red]WARNING: caller authentication is OFF (--no-auth). Anyone who can reach these ports "
            "may take decisions, read every feature and push values. Never expose them.[/bold red]",
            markup=True,
        )
        return None
    identity = local.start_identity(catalog, settings)
    out.print(f"identity    issuer {identity.issuer.url}, tokens in {settings.identity_dir / 'tokens'}")
    for caller, path in identity.tokens.items():
        out.print(f"            {caller}: {path}")
    return identity


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _print_endpoints(settings: LocalSettings, model: str, request: dict[str, Any], token: Path | None) -> None:
    body = json.dumps(request)
    # The command reads the token file: no token is printed.
    auth = f' -H "authorization: Bearer $(cat {token})"' if token is not None else ""
    out.print(f"[green]ready[/green]\nfeature server  {settings.feature_url}  (POST /get-online-features, /push)")
    out.print(f"model server    {settings.model_url}  (Open Inference Protocol /v2, decisions /v1/decisions/<model>)")
    out.print(f"decision log    {settings.decision_log}\n\ntry a credit decision:\n")
    out.print(
        f"curl -s -X POST {settings.model_url}/v1/decisions/{model}{auth} -H 'content-type: application/json' -d '{body}'",
        markup=False,
    )
    out.print("\nCtrl-C stops the platform.")
