"""``POST /v1/decisions/{model}``: features from the online store, score, policy, reasons, record.

Every request that names a model gets a decision id and a durable record (decision,
refusal or error) before its response is sent. The shadow version, if any, is scored
after the response and logged under the same decision id.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Any

import msgspec
from prometheus_client import Counter
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlplat.access import Action
from mlplat.errors import MlplatError, NotFoundError
from mlplat.models import VersionState
from mlplat.models.policy import (
    Inputs,
    Outcome,
    ReasonCode,
    assemble_inputs,
    decide,
    must_refuse,
    reason_codes,
)
from mlplat.online_store import FeatureValue, ReadRequest
from mlplat.operations.metric_names import DECISION_ROUTE, NO_VERSION, UNKNOWN_MODEL
from services.errors import ServiceNotReadyError, clip, error_body
from services.identity import OPEN, Authorizer, caller_of
from services.model_server.decision_ids import canary_bucket, new_decision_id
from services.model_server.decision_log import DecisionLog
from services.model_server.metrics import ERROR_OUTCOME, Metrics
from services.model_server.registry import GatedStore, ServedModel
from services.model_server.schemas import decision_request_type
from services.request_body import decode, read_bounded
from services.responses import error_response, json_body_bytes, json_response

log = logging.getLogger("mlplat.model_server")


class DecisionApi:
    """The decision endpoint over the served models, the store and the decision log."""

    def __init__(
        self,
        models: Mapping[str, ServedModel],
        gate: GatedStore,
        log: DecisionLog,
        metrics: Metrics,
        executor: Executor | None = None,
        authorizer: Authorizer = OPEN,
        max_body_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        self._models = models
        self._authorizer = authorizer
        self._max_body_bytes = max_body_bytes
        self._decoders = {name: msgspec.json.Decoder(decision_request_type(m)) for name, m in models.items()}
        self._executor = executor
        self._gate = gate
        self._log = log
        self._metrics = metrics
        # Children bound once per label values: ``labels()`` costs more than ``inc()``.
        self._children: dict[tuple[object, ...], Any] = {}

    def routes(self) -> list[Route]:
        return [Route("/v1/decisions/{model_name}", self.decide, methods=["POST"])]

    def _child(self, metric: Counter, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    async def decide(self, request: Request) -> Response:
        started = time.perf_counter()
        decision_id = new_decision_id()
        name = request.path_params["model_name"]
        caller = caller_of(request.scope)
        record: dict[str, Any] = {
            "id": decision_id,
            "time": datetime.now(UTC).isoformat(),
            "model": clip(name, 256),  # from the path: an unknown one may be long
            "caller": caller.as_record(),
        }
        shadow: BackgroundTask | None = None
        try:
            self._authorizer.require(caller, Action.DECIDE, (name,))
            model = self._model(name)
            raw = await read_bounded(request, self._max_body_bytes)
            body = decode(raw, self._decoders[name])
            record["request"] = msgspec.to_builtins(body)
            content, shadow = await self._decide(model, body, decision_id, record)
            status = 200
        except Exception as error:  # every failure is recorded, then answered without internals
            status, content = error_body(error)
            # Ours say what was wrong; anything else keeps only its type (its text may hold secrets).
            detail = clip(str(error)) if isinstance(error, MlplatError) else f"internal: {type(error).__name__}"
            record.update(kind="error", status=status, error=detail)
            content["decision_id"] = decision_id
        try:
            await self._log.append(decision_id, json_body_bytes(record))
        except MlplatError as error:
            # No decision leaves without its record.
            response = error_response(error, decision_id=decision_id)
        else:
            response = json_response(content, status)
            response.background = shadow
        self._observe(name, record, response.status_code, started, caller.name)
        return response

    def _observe(self, name: str, record: Mapping[str, Any], status: int, started: float, caller: str) -> None:
        model = name if name in self._models else UNKNOWN_MODEL
        outcome = str(record.get("decision", ERROR_OUTCOME)) if status == 200 else ERROR_OUTCOME
        version = str(record.get("version", NO_VERSION))
        seconds = time.perf_counter() - started
        self._metrics.observe_request(DECISION_ROUTE, model, version, outcome, status, seconds, caller)

    def _model(self, name: str) -> ServedModel:
        model = self._models.get(name)
        if model is None:
            raise NotFoundError(f"model {name!r} is not served here; served: {', '.join(self._models)}")
        if not model.ready:
            raise ServiceNotReadyError(f"model {name} is not ready for decisions")
        return model

    async def _decide(
        self, model: ServedModel, body: Any, decision_id: str, record: dict[str, Any]
    ) -> tuple[dict[str, Any], BackgroundTask | None]:
        policy = model.spec.decision
        entities: dict[str, str | int] = msgspec.structs.asdict(body.entities)
        values = {} if body.values is msgspec.UNSET else request_numbers(body.values)
        stored = self._read(model, entities)
        inputs = assemble_inputs(model.inputs, stored, values, policy.on_missing)
        features = {v.ref: v.as_record() for v in inputs.values}
        record["features"] = features
        if must_refuse(inputs, policy.on_missing):
            return self._refusal(model, inputs, decision_id, record, features), None
        version, use_canary = _version_for(model, decision_id)
        if self._executor is None:
            score, reasons = score_and_explain(model, version, inputs)
        else:
            loop = asyncio.get_running_loop()
            score, reasons = await loop.run_in_executor(self._executor, score_and_explain, model, version, inputs)
        outcome = decide(score, policy.threshold)
        # What the caller reads is what the record keeps.
        outcome_fields = {
            "version": version.version,
            "sha256": version.sha256,
            "canary": use_canary,
            "decision": outcome.value,
            "score": score,
            "threshold": policy.threshold,
            "reasons": [r.as_record() for r in reasons],
        }
        record.update(kind="decision", **outcome_fields)
        self._child(self._metrics.decisions, model.name, version.version, outcome.value, str(use_canary).lower()).inc()
        content = {"decision_id": decision_id, "model": model.name, **outcome_fields, "features": features}
        shadow = model.shadow
        task = None
        if shadow is not None and shadow is not version:
            task = BackgroundTask(self._score_shadow, model, shadow, inputs, decision_id, outcome, record["caller"])
        return content, task

    def _refusal(
        self,
        model: ServedModel,
        inputs: Inputs,
        decision_id: str,
        record: dict[str, Any],
        features: dict[str, Any],
    ) -> dict[str, Any]:
        primary = model.primary
        reason = "features missing or outside their ttl, and the model's decision.onMissing is refuse"
        record.update(
            kind="refusal",
            version=primary.version,
            sha256=primary.sha256,
            canary=False,
            decision=Outcome.REFUSED.value,
            refusal={"reason": reason, "features": list(inputs.unusable)},
        )
        self._child(self._metrics.decisions, model.name, primary.version, Outcome.REFUSED.value, "false").inc()
        return {
            "decision_id": decision_id,
            "model": model.name,
            "version": primary.version,
            "sha256": primary.sha256,
            "canary": False,
            "decision": Outcome.REFUSED.value,
            "score": None,
            "threshold": model.spec.decision.threshold,
            "reasons": [],
            "refusal": {"reason": reason, "features": list(inputs.unusable)},
            "features": features,
        }

    def _read(self, model: ServedModel, entities: Mapping[str, str | int]) -> dict[str, FeatureValue]:
        requests = [
            ReadRequest(read.view, tuple(entities[k.request_key] for k in read.keys), read.features)
            for read in model.reads
        ]
        results = self._gate.read(requests)
        stored: dict[str, FeatureValue] = {}
        for read, found in zip(model.reads, results, strict=True):
            for feature in read.features:
                stored[f"{read.view}:{feature}"] = found[feature]
            # One entity's values of one view share their status: count them at once.
            status = found[read.features[0]].status.value
            self._child(self._metrics.feature_status, read.view, status).inc(len(read.features))
        return stored

    async def _score_shadow(
        self,
        model: ServedModel,
        shadow: VersionState,
        inputs: Inputs,
        decision_id: str,
        returned: Outcome,
        caller: dict[str, str | None],
    ) -> None:
        scorer = shadow.scorer
        assert scorer is not None
        try:
            if self._executor is None:
                score = float(scorer.score(inputs.row())[0])
            else:
                scores = await asyncio.get_running_loop().run_in_executor(self._executor, scorer.score, inputs.row())
                score = float(scores[0])
        except Exception:  # a failing shadow must never affect serving; it is logged
            log.exception("shadow version %s of %s failed on decision %s", shadow.version, model.name, decision_id)
            return
        outcome = decide(score, model.spec.decision.threshold)
        record = {
            "id": decision_id,
            "time": datetime.now(UTC).isoformat(),
            "kind": "shadow",
            "model": model.name,
            "caller": caller,
            "version": shadow.version,
            "sha256": shadow.sha256,
            "score": score,
            "decision": outcome.value,
            "agrees": outcome is returned,
        }
        self._metrics.shadow.labels(model.name, shadow.version, str(outcome is returned).lower()).inc()
        try:
            await self._log.append(decision_id, json_body_bytes(record))
        except MlplatError as error:
            log.error("shadow record of decision %s not written: %s", decision_id, error)


def score_and_explain(
    model: ServedModel, version: VersionState, inputs: Inputs
) -> tuple[float, tuple[ReasonCode, ...]]:
    """The version's score of the vector, and the policy's reason codes for it."""
    assert version.scorer is not None  # a ready model's primary and canary are loaded
    policy = model.spec.decision
    row = inputs.row()
    if not policy.reason_codes or not version.scorer.explains:
        return float(version.scorer.score(row)[0]), ()
    score, explanation = version.scorer.score_and_explain(row)
    return score, reason_codes(model.inputs, inputs, explanation, policy.reason_codes)


def _version_for(model: ServedModel, decision_id: str) -> tuple[VersionState, bool]:
    """The version that takes this decision, and whether it is the canary."""
    canary = model.canary
    rollout = model.spec.rollout.canary
    if canary is not None and rollout is not None and canary_bucket(decision_id) < rollout.percent:
        return canary, True
    return model.primary, False


def request_numbers(values: msgspec.Struct) -> dict[str, float]:
    """A decoded ``values`` object as the numbers the model scores (bools are 0/1)."""
    return {name: float(value) for name, value in msgspec.structs.asdict(values).items()}
