"""A synchronous HTTP client for an ASGI app in-process, over httpx's ASGI transport."""

from __future__ import annotations

import functools
from contextlib import ExitStack
from typing import Any

import anyio.from_thread
import httpx
from starlette.applications import Starlette


class AppClient:
    """Sends requests to ``app`` on one event loop running in a helper thread."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self._stack = ExitStack()
        self._portal = self._stack.enter_context(anyio.from_thread.start_blocking_portal())
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://feature-server")

    def get(self, path: str, **options: Any) -> httpx.Response:
        return self._portal.call(functools.partial(self._client.get, path, **options))

    def post(self, path: str, **options: Any) -> httpx.Response:
        return self._portal.call(functools.partial(self._client.post, path, **options))

    def close(self) -> None:
        self._portal.call(self._client.aclose)
        self.app.state.server.store.close()
        self._stack.close()
