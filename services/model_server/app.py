"""The model server's app factory: V2 inference, decisions, metrics, on one Starlette app."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlplat.models import ArtifactStore
from mlplat.online_store import OnlineStore, open_store
from services import admission
from services.admission import DECISION_CPU_MS, DECISION_QUEUE_MS, in_flight_limit
from services.identity import OPEN, AuthFailures, Authorizer, CallerAuthentication, IdentitySettings, authorizer_for
from services.model_server.contract import model_server_document
from services.model_server.decision_log import DecisionLog, DecisionSink, KinesisSink
from services.model_server.decisions import DecisionApi
from services.model_server.metrics import Metrics
from services.model_server.registry import GatedStore, ServedModel, load_models
from services.model_server.segmented_log import SegmentedFileSink
from services.model_server.settings import Settings
from services.model_server.v2 import SERVER_VERSION, V2Api
from services.responses import document_route, error_response, http_error_handler

log = logging.getLogger("mlplat.model_server")


@dataclass(frozen=True)
class Components:
    """What one server runs on; tests and the benchmark build these directly."""

    models: Mapping[str, ServedModel]
    store: OnlineStore
    decision_log: DecisionLog
    metrics: Metrics
    store_retry_s: float = 1.0
    #: Threads that score and explain decisions off the event loop; 0 scores on the loop.
    scoring_threads: int = 0
    #: Largest request body; more is 413.
    max_body_bytes: int = 8 * 1024 * 1024
    #: Who may call: tokens verified and grants checked. Left out: no authentication (tests, embedding).
    authorizer: Authorizer = OPEN
    #: Requests in flight before a fast 503; ``None`` derives it from the models' latency objectives.
    max_in_flight: int | None = None
    #: Queue delay (ms) past which requests get a fast 503; ``None`` is ``DECISION_QUEUE_MS``.
    max_queue_ms: float | None = None


def build_app(components: Components) -> Starlette:
    """The ASGI app over ready-made components; shutting it down closes the log and the store."""
    metrics = components.metrics
    gate = GatedStore(components.store, components.store_retry_s, metrics)
    access = components.authorizer
    v2 = V2Api(components.models, metrics, components.max_body_bytes, access)
    executor = ThreadPoolExecutor(components.scoring_threads, "scoring") if components.scoring_threads else None
    decisions = DecisionApi(
        components.models, gate, components.decision_log, metrics, executor, access, components.max_body_bytes
    )

    async def metrics_endpoint(request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        freeze_startup_objects()
        yield
        gc.unfreeze()
        # uvicorn has stopped accepting and drained in-flight requests: flush what is queued.
        log.info("shutting down: flushing the decision log")
        components.decision_log.close()
        components.store.close()
        if executor is not None:
            executor.shutdown()

    async def internal_error(request: Request, error: Exception) -> Response:
        return error_response(error)  # logged there; the client reads "internal error"

    document = model_server_document(components.models, SERVER_VERSION, authenticated=access.enabled)
    routes = [
        *v2.routes(),
        *decisions.routes(),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        document_route(document),
    ]
    authentication = Middleware(
        CallerAuthentication,
        authorizer=access,
        public_paths=PUBLIC_PATHS,
        render=lambda status, message: orjson.dumps({"error": message}),
        failures=AuthFailures(metrics.registry),
    )
    not_found = f"no such endpoint; GET /openapi.json lists the {len(document['paths'])} paths of this server"
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error_handler(not_found), Exception: internal_error},
        middleware=[authentication],
    )
    limit = components.max_in_flight or decision_in_flight_limit(components.models)
    admission.install(
        app,
        limit=limit,
        max_queue_seconds=(components.max_queue_ms or DECISION_QUEUE_MS) / 1000,
        on_shed=metrics.count_shed,
        exempt=PROBES,
        exempt_suffixes=("/ready",),
    )
    return app


#: Paths never shed: the kubelet's probes and Prometheus' scrape (and every model's ``.../ready``).
PROBES = ("/v2/health/live", "/v2/health/ready", "/metrics")


def decision_in_flight_limit(models: Mapping[str, ServedModel]) -> int:
    """The cap that keeps a decision of the strictest model within its ``serving.latencySloMs``."""
    objective = min((m.spec.serving.latency_slo_ms for m in models.values()), default=50)
    return in_flight_limit(objective, DECISION_CPU_MS)


#: Paths served without a token: the probes, the server metadata, the Prometheus scrape
#: (which the NetworkPolicy admits from the monitoring namespace only) and the API contract.
PUBLIC_PATHS = ("/v2/health/live", "/v2/health/ready", "/v2", "/metrics", "/openapi.json")


def freeze_startup_objects() -> None:
    """Keep what startup loaded (modules, catalog, models) out of every later garbage collection.

    Without this a full collection walks every object the frameworks and the catalog
    created — about 0.1 s on this service, a pause every in-flight decision waits out. After
    ``gc.freeze()`` collections only look at objects created while serving.
    """
    gc.collect()
    gc.freeze()


def decision_sink(settings: Settings) -> DecisionSink:
    """The sink the settings choose: the local file, or the platform's Kinesis stream."""
    stream = settings.kinesis_stream
    if stream is not None:
        import boto3  # noqa: PLC0415 - only the Kinesis sink needs it

        client = boto3.client("kinesis", region_name=settings.aws_region, endpoint_url=settings.kinesis_endpoint_url)
        return KinesisSink(client, stream)
    return SegmentedFileSink(
        Path(settings.decision_log), settings.decision_log_durability, settings.decision_log_segment_bytes
    )


def create_app(settings: Settings, identity: IdentitySettings | None = None) -> Starlette:
    """Load the catalog and every serving model version, connect the store and the log.

    Callers are verified as ``identity`` says (``MLPLAT_AUTH*`` when left out).
    """
    catalog = settings.load_catalog()
    access = authorizer_for(catalog, identity)
    served = settings.models or list(catalog.models)
    metrics = Metrics(slo_seconds=[catalog.model(name).spec.serving.latency_slo_ms / 1000 for name in served])
    artifacts = ArtifactStore(settings.artifact_root, settings.s3_endpoint_url, settings.aws_region)
    models = load_models(catalog, settings.models, artifacts, metrics)
    store = open_store(
        settings.online_store_url,
        catalog,
        namespace=settings.online_store_namespace,
        timeout=settings.online_store_timeout,
        password=settings.store_password(),
    )
    decision_log = DecisionLog(decision_sink(settings), on_flush=metrics.observe_flush)
    parts = Components(
        models,
        store,
        decision_log,
        metrics,
        settings.store_retry_seconds,
        settings.scoring_threads,
        settings.max_body_bytes,
        access,
        settings.max_in_flight,
        settings.max_queue_ms,
    )
    return build_app(parts)
