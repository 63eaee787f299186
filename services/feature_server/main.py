"""Running the feature server with uvicorn (``mlplat-serve features``)."""

from __future__ import annotations

import os

import uvicorn

from services.feature_server.app import create_app
from services.feature_server.settings import Settings
from services.http_protocol import SheddingHttpToolsProtocol

APP_FACTORY = "services.feature_server.app:app_from_environment"


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
        "http": SheddingHttpToolsProtocol,
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
    os.environ.update(settings.environment())
    uvicorn.run(APP_FACTORY, factory=True, workers=settings.workers, **options)  # type: ignore[arg-type]
