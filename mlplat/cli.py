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
from rich.markup import escape
from rich.status import Status
from rich.table import Table
from rich.text import Text

from mlplat.catalog import Catalog
from mlplat.console import (
    DEFAULT_SPECS,
    ArtifactsOption,
    RepoOption,
    SpecsOption,
    err,
    fail,
    load_specs,
    out,
    typer_app,
)
from mlplat.diagnostics import Severity
from mlplat.errors import MlplatError, UsageError
from mlplat.loader import ValidationResult, validate_directory
from mlplat.monitor_cli import monitor_command, outcomes_command, send_decisions_command, simulate_decisions_command
from mlplat.offline_cli import generate_data, materialize_command, registry_app, train
from mlplat.schema import json_schema_text, markdown_reference

if TYPE_CHECKING:
    from mlplat.local_platform import LocalIdentity, LocalSettings

app = typer_app("mlplat", "mlplat: a machine-learning platform defined as code.")


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class SchemaFormat(StrEnum):
    JSON = "json"
    MARKDOWN = "markdown"


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
    specs: SpecsOption = DEFAULT_SPECS,
    artifacts: Annotated[
        Path | None,
        typer.Option(
            "--artifacts",
            envvar="MLPLAT_ARTIFACT_ROOT",
            help="Artifact root; local artifacts must be there with their sha256. Default: models/ beside the specs, if any.",
        ),
    ] = None,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="text for people, json for machines.")
    ] = OutputFormat.TEXT,
) -> None:
    """Check every spec below --specs as a deploy would; exit 1 on any error, listing all of them."""
    try:
        result = validate_directory(specs, artifacts=_artifact_root(specs, artifacts))
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


def _artifact_root(specs: Path, artifacts: Path | None) -> Path | None:
    if artifacts is not None:
        if not artifacts.is_dir():
            raise fail(UsageError(f"--artifacts {str(artifacts)!r} is not a directory"))
        return artifacts
    beside = specs.resolve().parent / "models"
    return beside if beside.is_dir() else None


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


@app.command()
def dashboards(
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory to write the dashboards into.")] = Path(
        "docs/dashboards"
    ),
    specs: SpecsOption = DEFAULT_SPECS,
) -> None:
    """Write the Grafana dashboards of the specs: an overview, one per model, one per online view."""
    from mlplat.operations.dashboards import catalog_dashboards, render  # noqa: PLC0415 - only this command

    try:
        boards = catalog_dashboards(load_specs(specs))
    except MlplatError as error:
        raise fail(error) from None
    output.mkdir(parents=True, exist_ok=True)
    for stale in set(output.glob("*.json")) - {output / name for name in boards}:
        stale.unlink()  # a removed model or view takes its dashboard with it
    for name, board in boards.items():
        (output / name).write_text(render(board), encoding="utf-8")
    err.print(f"wrote {len(boards)} dashboards to {output}")


app.command("generate-data")(generate_data)
app.command()(train)
app.command("materialize")(materialize_command)
app.command("monitor")(monitor_command)
app.command("simulate-decisions")(simulate_decisions_command)
app.command("outcomes")(outcomes_command)
app.command("send-decisions")(send_decisions_command)
app.add_typer(registry_app, name="registry")

catalog_app = typer_app(None, "Work with the catalog.")
app.add_typer(catalog_app, name="catalog")


@catalog_app.command("snapshot")
def catalog_snapshot(
    specs: SpecsOption = DEFAULT_SPECS,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write; stdout when left out.")] = None,
) -> None:
    """Write the catalog's JSON snapshot, which the services start from (MLPLAT_CATALOG)."""
    try:
        text = json.dumps(load_specs(specs).to_snapshot(), indent=2, sort_keys=True) + "\n"
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


_TONE_STYLES = {"danger": "bold red", "add": "green", "remove": "red", "change": "yellow", "plain": ""}


@app.command("plan")
def plan_command(
    stacks: Annotated[list[str], typer.Option("--stack", help="Stack to plan (dev, staging, prod); repeatable.")],
    base: Annotated[str, typer.Option("--base", help="Git ref to compare the working tree with.")] = "main",
    output: Annotated[
        PlanFormat, typer.Option("--format", help="text, markdown (PR comment) or json.")
    ] = PlanFormat.TEXT,
    repo: RepoOption = Path(),
    artifacts: ArtifactsOption = Path("models"),
    cache: Annotated[
        bool, typer.Option("--cache/--no-cache", help="Reuse renders of the base commit from .mlplat/plan-cache.")
    ] = True,
) -> None:
    """Show what the working tree changes against --base: the spec changes, then each stack's resources.

    Progress goes to stderr; invalid specs print their located errors and exit 1.
    """
    from mlplat.plan import report as reporting  # noqa: PLC0415 - keeps `mlplat validate` free of git and subprocesses
    from mlplat.plan.runner import plan  # noqa: PLC0415

    root = repo.resolve()
    try:
        with err.status("planning ...") as status:
            result = plan(
                root,
                stacks,
                base,
                artifacts=root / artifacts,
                cache=cache,
                progress=lambda message: _progress(status, message),
            )
    except MlplatError as error:
        raise fail(error) from None
    if output is PlanFormat.JSON:
        sys.stdout.write(json.dumps(reporting.to_json(result), indent=2, default=str) + "\n")
    elif output is PlanFormat.MARKDOWN:
        sys.stdout.write(reporting.to_markdown(result) + "\n")
    else:
        for line, tone in reporting.to_text(result):
            out.print(Text(line, style=_TONE_STYLES[tone.value]))


def _progress(status: Status, message: str) -> None:
    err.print(Text(message, style="dim"))
    status.update(message)


@app.command("up")
def up(
    repo: RepoOption = Path(),
    feature_port: Annotated[int, typer.Option(help="Feature server port.")] = 6566,
    model_port: Annotated[int, typer.Option(help="Model server port.")] = 8080,
    prometheus_port: Annotated[int, typer.Option(help="Local Prometheus port (when prometheus is on PATH).")] = 9090,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Serve without verifying callers' tokens (anyone may call anything).")
    ] = False,
) -> None:
    """Run the whole platform locally: data, models, online store, feature and model servers. Ctrl-C stops it.

    With prometheus on PATH, a local Prometheus scrapes both servers and runs the platform's
    SLO rules and alerts.

    Embedded stores by default; MLPLAT_ONLINE_STORE_URL (redis://...) and MLPLAT_REGISTRY_URL
    (mysql+pymysql://...) use real servers instead. Callers authenticate as on a cluster: a
    local issuer signs one service account token per Caller of the specs
    (.mlplat/identity/tokens/<caller>.token) and the services verify them.
    """
    import os  # noqa: PLC0415 - `up` pulls in the offline engines; other commands stay light
    import signal  # noqa: PLC0415

    from mlplat import local_platform as local  # noqa: PLC0415
    from mlplat.operations.local_prometheus import prometheus_binary  # noqa: PLC0415

    # SIGTERM (a supervisor, a test) stops the platform as Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    settings = local.LocalSettings.from_environment(
        repo.resolve(),
        os.environ,
        feature_port=feature_port,
        model_port=model_port,
        prometheus_port=prometheus_port,
        authenticate=not no_auth,
    )
    claim = None
    running = None
    identity = None
    try:
        # Before anything is written: a second `up` on this state, or a taken port, stops here.
        claim = local.claim_state(settings)
        local.check_ports(settings, prometheus=prometheus_binary() is not None)
        catalog = load_specs(settings.specs)
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
        prometheus = local.start_monitoring(running, catalog)
        if prometheus is None:
            out.print("prometheus  not on PATH: install it (apt-get install prometheus) to run the SLO alerts locally")
        else:
            out.print(f"prometheus  {prometheus}/alerts  (the platform's SLO rules and alerts)")
        model = next(iter(catalog.models))
        token = local.decision_caller(catalog, model, identity)
        _print_endpoints(settings, model, local.sample_decision(catalog, data, model), token)
        server, code = running.wait()
        if code != 0:
            raise local.LocalPlatformError(f"the {server} exited with status {code}; its log is above")
    except KeyboardInterrupt:
        out.print("stopping ...")
    except MlplatError as error:
        raise fail(error) from None
    finally:
        if running is not None:
            running.stop()
        elif identity is not None:
            identity.issuer.stop()
        if claim is not None:
            claim.release()


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
