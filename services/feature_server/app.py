"""The feature server's ASGI app: :func:`create_app` builds it from :class:`Settings`.

Starlette with orjson, no middleware: every endpoint goes through :meth:`Server.answer`,
which times it, counts it, and turns any exception into a response in one place
(:func:`services.errors.error_body`). Bodies are decoded into their typed request
(:mod:`services.feature_server.schemas`) in one msgspec pass. Reads and pings call the store on
the event loop, bounded by the store's timeout and a :class:`StoreGate` that fails fast
for a while after a failure; push batches (CPU-heavy encoding) run in a small thread
pool.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlplat.access import Action
from mlplat.catalog import Catalog
from mlplat.errors import StoreUnavailableError
from mlplat.online_store import BulkOnlineStore, open_store
from mlplat.online_store.gate import StoreGate
from services import admission
from services.admission import (
    FEATURE_READ_CPU_MS,
    FEATURE_READ_OBJECTIVE_MS,
    FEATURE_READ_QUEUE_MS,
    in_flight_limit,
)
from services.errors import error_body
from services.feature_server.contract import feature_server_document
from services.feature_server.metrics import CONTENT_TYPE, Metrics
from services.feature_server.pushes import latest_event_time, parse_push
from services.feature_server.reads import ReadPlan, parse_request, read_requests, response
from services.feature_server.schemas import push_request_type, read_request_type
from services.feature_server.settings import Settings
from services.identity import (
    OPEN,
    AuthFailures,
    Authorizer,
    CallerAuthentication,
    IdentitySettings,
    authorizer_for,
    caller_of,
)
from services.request_body import decode, read_bounded
from services.responses import document_route, http_error_handler, json_body_bytes, json_response

T = TypeVar("T")
Handler = Callable[[Request], Awaitable[tuple[int, object]]]


class Server:
    """The state of one app: catalog, store, limits, metrics."""

    def __init__(
        self, settings: Settings, catalog: Catalog, store: BulkOnlineStore, authorizer: Authorizer | None = None
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.store = store
        self.authorizer = authorizer if authorizer is not None else OPEN
        self.metrics = Metrics([name for name, view in catalog.feature_views.items() if view.spec.online])
        self.plans: dict[tuple[object, ...], ReadPlan] = {}
        self.gate = StoreGate(settings.store_retry_seconds)
        self._limiter: anyio.CapacityLimiter | None = None
        self._read_request: msgspec.json.Decoder[Any] = msgspec.json.Decoder(read_request_type(catalog))
        self._push_request: msgspec.json.Decoder[Any] = msgspec.json.Decoder(push_request_type(catalog))

    # --- endpoints -----------------------------------------------------------------------

    async def get_online_features(self, request: Request) -> tuple[int, object]:
        caller = caller_of(request.scope)
        self.authorizer.require_some(caller, Action.READ)
        body = decode(await self._body(request), self._read_request)
        parsed = parse_request(body, self.catalog, self.settings.max_entities, self.plans)
        views = [read.view for read in parsed.plan.views]
        self.authorizer.require(caller, Action.READ, views)
        reads = read_requests(parsed)
        results = self._inline("read", lambda: self.store.read_bulk(reads))
        tally: dict[tuple[str, str], int] = {}
        payload = response(parsed, results, tally)
        self.metrics.count_values(tally)
        return 200, payload

    async def push(self, request: Request) -> tuple[int, object]:
        caller = caller_of(request.scope)
        self.authorizer.require_some(caller, Action.PUSH)
        body = decode(await self._body(request), self._push_request)
        latest = latest_event_time(self.settings.max_push_skew_seconds)
        pushes = parse_push(body, self.catalog, self.settings.max_push_rows, latest)
        # A push is authorized by the source its views read from (writers of a push source).
        sources = [self.catalog.feature_views[push.view].spec.source for push in pushes]
        self.authorizer.require(caller, Action.PUSH, sources)
        written = []
        for push in pushes:
            applied = await self._in_thread("write", self.store.write, push.view, push.rows)
            written.append({"view": push.view, "rows": len(push.rows), "applied": applied})
        return 200, {"written": written}

    async def live(self, request: Request) -> tuple[int, object]:
        return 200, {"live": True}

    async def ready(self, request: Request) -> tuple[int, object]:
        self._inline("ping", self.store.ping)
        return 200, {"ready": True, "catalog": self.catalog.digest[:12]}

    async def metrics_page(self, request: Request) -> Response:
        # In an outage the last statuses stay exported; the outage shows in the request metrics.
        with contextlib.suppress(StoreUnavailableError):
            self.metrics.views_seen(self._inline("status", self.store.view_status))
        return Response(self.metrics.exposition(), media_type=CONTENT_TYPE)

    # --- plumbing ------------------------------------------------------------------------

    def answer(self, endpoint: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """``handler`` timed, counted, and with every exception mapped to a response."""

        async def run(request: Request) -> Response:
            started = time.perf_counter()
            try:
                status, payload = await handler(request)
            except Exception as error:  # the one place exceptions become answers
                status, payload = error_body(error)
            caller = caller_of(request.scope).name
            self.metrics.observe_request(endpoint, status, time.perf_counter() - started, caller)
            return json_response(payload, status)

        return run

    def _inline(self, operation: str, call: Callable[[], T]) -> T:
        """A short store call on the event loop: bounded by the store timeout and the gate."""
        started = time.perf_counter()
        try:
            return self.gate.call(call)
        finally:
            self.metrics.observe_store(operation, time.perf_counter() - started)

    async def _in_thread(self, operation: str, call: Callable[..., T], *args: object) -> T:
        """A long store call (a push batch: encoding, then the write) off the event loop."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.settings.store_threads)
        self.gate.check()
        started = time.perf_counter()
        try:
            return await anyio.to_thread.run_sync(call, *args, limiter=self._limiter)
        except StoreUnavailableError:
            self.gate.failed()
            raise
        finally:
            self.metrics.observe_store(operation, time.perf_counter() - started)

    async def _body(self, request: Request) -> bytes:
        return await read_bounded(request, self.settings.max_body_bytes)


def create_app(
    settings: Settings,
    *,
    catalog: Catalog | None = None,
    store: BulkOnlineStore | None = None,
    identity: IdentitySettings | None = None,
) -> Starlette:
    """The feature server for ``settings``.

    The catalog is read from ``settings.catalog`` and the store opened from
    ``settings.online_store_url`` unless given (tests, embedding). A catalog that does
    not load or a store URL that is wrong fails here, before the server listens.
    Callers are verified as ``identity`` says (``MLPLAT_AUTH*`` when left out).
    """
    catalog = catalog if catalog is not None else settings.load_catalog()
    if store is None:
        store = open_store(
            settings.online_store_url,
            catalog,
            namespace=settings.online_store_namespace,
            timeout=settings.online_store_timeout,
            password=settings.store_password(),
        )
    access = authorizer_for(catalog, identity)
    server = Server(settings, catalog, store, access)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # The catalog and imports are long-lived: move them out of the cyclic GC's view
        # so its full collections stay short and do not show up in tail latency.
        gc.collect()
        gc.freeze()
        yield
        server.store.close()

    routes = [
        Route(
            "/get-online-features", server.answer("get-online-features", server.get_online_features), methods=["POST"]
        ),
        Route("/push", server.answer("push", server.push), methods=["POST"]),
        Route("/health/live", server.answer("live", server.live), methods=["GET"]),
        Route("/health/ready", server.answer("ready", server.ready), methods=["GET"]),
        Route("/metrics", server.metrics_page, methods=["GET"]),
        document_route(feature_server_document(catalog, authenticated=access.enabled)),
    ]
    endpoints = ", ".join(f"{next(iter(sorted(r.methods or ())))} {r.path}" for r in routes)
    not_found = f"no such endpoint; this server has {endpoints}"
    authentication = Middleware(
        CallerAuthentication,
        authorizer=access,
        public_paths=_PUBLIC_PATHS,
        render=_error_json,
        failures=AuthFailures(server.metrics.registry),
    )
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error_handler(not_found)},
        middleware=[authentication],
    )
    admission.install(
        app,
        limit=feature_in_flight_limit(settings),
        max_queue_seconds=(settings.max_queue_ms or FEATURE_READ_QUEUE_MS) / 1000,
        on_shed=server.metrics.count_shed,
        exempt=PROBES,
    )
    app.state.server = server
    return app


#: Paths served without a token: the kubelet's probes, the Prometheus scrape (which the
#: NetworkPolicy admits from the monitoring namespace only) and the API contract.
_PUBLIC_PATHS = ("/health/live", "/health/ready", "/metrics", "/openapi.json")


def _error_json(status: int, message: str) -> bytes:
    return json_body_bytes({"error": message})


#: Paths never shed: the kubelet's probes and Prometheus' scrape.
PROBES = ("/health/live", "/health/ready", "/metrics")


def feature_in_flight_limit(settings: Settings) -> int:
    """``MLPLAT_MAX_IN_FLIGHT``, else the cap that keeps a read within the feature server's objective."""
    if settings.max_in_flight is not None:
        return settings.max_in_flight
    return in_flight_limit(FEATURE_READ_OBJECTIVE_MS, FEATURE_READ_CPU_MS)


def app_from_environment() -> Starlette:
    """The app of the ``MLPLAT_*`` environment: what each uvicorn worker builds."""
    return create_app(Settings())
