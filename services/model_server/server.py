"""Run the model server: uvicorn with uvloop and httptools, one process, graceful on SIGTERM.

On SIGTERM uvicorn stops accepting connections, lets in-flight requests (and the shadow
scoring behind them) finish, then the app's shutdown flushes and fsyncs the decision log.
"""

from __future__ import annotations

import logging
import sys

import uvicorn

from mlplat.errors import MlplatError, exit_code_of
from services.http_protocol import SheddingHttpToolsProtocol
from services.model_server.app import create_app
from services.model_server.settings import Settings


def serve(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=SheddingHttpToolsProtocol,
        lifespan="on",
        access_log=False,
        timeout_graceful_shutdown=int(settings.graceful_shutdown_seconds),
        log_level="info",
    )
    uvicorn.Server(config).run()


def main() -> None:
    try:
        serve(Settings.from_environment())
    except MlplatError as error:
        logging.getLogger("mlplat.model_server").error("cannot start: %s", error)
        sys.exit(exit_code_of(error))


if __name__ == "__main__":
    main()
