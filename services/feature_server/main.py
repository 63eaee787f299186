"""Running the feature server with uvicorn (``mlplat-serve features``)."""

from __future__ import annotations

import os

import uvicorn
from pydantic import SecretStr, ValidationError

from mlplat.errors import UsageError
from services.feature_server.app import create_app
from services.feature_server.settings import Settings

APP_FACTORY = "services.feature_server.app:app_from_environment"


def settings_from_environment(**overrides: object) -> Settings:
    """``MLPLAT_*`` settings with ``overrides`` (None left out); a bad value is a UsageError per variable."""
    try:
        return Settings(**{name: value for name, value in overrides.items() if value is not None})  # type: ignore[arg-type]
    except ValidationError as error:
        problems = [f"MLPLAT_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in error.errors()]
        raise UsageError("invalid feature server settings:\n" + "\n".join(f"  - {p}" for p in problems)) from None


def environment_of(settings: Settings) -> dict[str, str]:
    """``settings`` as ``MLPLAT_*`` variables, so worker processes rebuild the same settings."""
    variables = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        variables[f"MLPLAT_{name.upper()}"] = text
    return variables


def run(settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT; in-flight requests get ``graceful_shutdown_seconds`` to finish.

    uvloop and httptools are the fastest loop and HTTP parser uvicorn offers; the access
    log is off because a log line per request costs more than the request (metrics count
    every request instead).
    """
    options: dict[str, object] = {
        "host": settings.host,
        "port": settings.port,
        "loop": "uvloop",
        "http": "httptools",
        "access_log": False,
        "timeout_graceful_shutdown": settings.graceful_shutdown_seconds,
        "lifespan": "on",
    }
    if settings.workers == 1:
        uvicorn.run(create_app(settings), **options)  # type: ignore[arg-type]
        return
    # Each worker process imports the app factory and reads the same settings from the
    # environment. Load the catalog once here first, so a bad one fails with its message
    # instead of as a crash loop of workers.
    settings.load_catalog()
    os.environ.update(environment_of(settings))
    uvicorn.run(APP_FACTORY, factory=True, workers=settings.workers, **options)  # type: ignore[arg-type]
