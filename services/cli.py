"""``mlplat-serve``: the services' entry points (the images run it; ``mlplat up`` starts it).

They live with the services, so the ``mlplat`` library and CLI never import them. The
boundary is the shared one (:mod:`mlplat.console`): same consoles, same error handler,
same option spellings. Options override the ``MLPLAT_*`` variables the settings read.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from mlplat.console import fail, typer_app
from mlplat.decision_log import DEFAULT_DECISION_LOG
from mlplat.errors import MlplatError, NotFoundError, UsageError

app = typer_app("mlplat-serve", "Run the platform's services.")

SpecsOverride = Annotated[
    Path | None, typer.Option("--specs", help="Spec directory or catalog snapshot (.json). Default: MLPLAT_CATALOG.")
]
OnlineStoreOverride = Annotated[
    str | None,
    typer.Option(
        "--online-store", help="Online store URL (redis://, rediss://, sqlite:///). Default: MLPLAT_ONLINE_STORE_URL."
    ),
]
HostOption = Annotated[str | None, typer.Option(help="Address to listen on. Default: MLPLAT_HOST.")]
PortOption = Annotated[int | None, typer.Option(help="Port to listen on. Default: MLPLAT_PORT.")]


@app.command("models")
def serve_models(
    specs: SpecsOverride = None,
    model: Annotated[list[str] | None, typer.Option(help="Model to serve (repeatable). Default: all.")] = None,
    artifacts: Annotated[
        str | None,
        typer.Option(help="Artifact root: a directory or s3://bucket[/prefix]. Default: MLPLAT_ARTIFACT_ROOT."),
    ] = None,
    online_store: OnlineStoreOverride = None,
    host: HostOption = None,
    port: PortOption = None,
) -> None:
    """Serve models: Open Inference Protocol (V2) and credit decisions."""
    from services.model_server.server import serve  # noqa: PLC0415 - each service image has only its own libraries
    from services.model_server.settings import Settings  # noqa: PLC0415

    try:
        settings = Settings.from_environment(
            catalog=specs,
            models=tuple(model) if model else None,
            artifact_root=artifacts,
            online_store_url=online_store,
            host=host,
            port=port,
        )
        serve(settings)
    except MlplatError as error:
        raise fail(error) from None


@app.command("features")
def serve_features(
    specs: SpecsOverride = None,
    online_store: OnlineStoreOverride = None,
    host: HostOption = None,
    port: PortOption = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes. Default: MLPLAT_WORKERS.")] = None,
) -> None:
    """Serve online features (Feast-compatible HTTP)."""
    from services.feature_server.main import run  # noqa: PLC0415 - see serve_models
    from services.feature_server.settings import Settings  # noqa: PLC0415

    try:
        settings = Settings.from_environment(
            catalog=specs, online_store_url=online_store, host=host, port=port, workers=workers
        )
        run(settings)
    except MlplatError as error:
        raise fail(error) from None


@app.command("decisions")
def decisions_command(
    log: Annotated[
        Path,
        typer.Option(
            "--decision-log",
            envvar="MLPLAT_DECISION_LOG",
            help="Decision log directory of a model server; `mlplat up` writes .mlplat/decisions.",
        ),
    ] = DEFAULT_DECISION_LOG,
    decision_id: Annotated[str | None, typer.Option("--id", help="Only the records of this decision id.")] = None,
    caller: Annotated[
        str | None, typer.Option("--caller", help="Only the records of this caller (a Caller name of the specs).")
    ] = None,
) -> None:
    """Print a model server's decision records as JSON lines, oldest first (a running server's log too)."""
    from mlplat.decision_log import read_decision_log  # noqa: PLC0415 - see serve_models

    if not log.is_dir():
        raise fail(UsageError(f"{log} is not a decision log directory; pass the server's MLPLAT_DECISION_LOG"))
    found = False
    for record in read_decision_log(log):
        if caller is not None and (record.get("caller") or {}).get("name") != caller:
            continue
        if decision_id is None or record.get("id") == decision_id:
            found = True
            sys.stdout.write(json.dumps(record, sort_keys=True) + "\n")
    if decision_id is not None and not found:
        raise fail(NotFoundError(f"no record of decision {decision_id} in {log}"))


def main() -> None:
    """Console entry point (``mlplat-serve``)."""
    app()


if __name__ == "__main__":
    main()
