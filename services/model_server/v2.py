"""The Open Inference Protocol (V2) over REST: health, metadata and inference.

Each served model takes one tensor ``input`` of shape ``[-1, F]`` whose columns are the
spec's ``features`` in order, and returns one tensor ``score`` of shape ``[-1]``: the
probability of the bad outcome. Errors are the protocol's ``{"error": "..."}``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlplat.access import Action
from mlplat.errors import NotFoundError
from mlplat.models import VersionState
from mlplat.spec.kinds import Framework
from services.identity import OPEN, Authorizer, ForbiddenError, caller_of
from services.model_server.metrics import Metrics
from services.model_server.registry import ServedModel
from services.model_server.responses import (
    ModelNotReadyError,
    RequestError,
    error_response,
    json_body,
    json_response,
)

SERVER_NAME = "mlplat-model-server"
SERVER_VERSION = "0.1.0"
INPUT_NAME = "input"
OUTPUT_NAME = "score"
#: V2 tensor datatypes a model input accepts (converted to float32 as the models score).
NUMERIC_DATATYPES = frozenset(
    {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64"}
)
#: The ``platform`` of model metadata, in the names Triton uses.
PLATFORMS = {Framework.XGBOOST: "xgboost", Framework.LIGHTGBM: "lightgbm", Framework.ONNX: "onnxruntime_onnx"}


def _health(ok: bool) -> Response:
    # The protocol: 200 is true, 4xx is false; bodies are empty.
    return Response(status_code=200 if ok else 400)


class V2Api:
    """Handlers of the V2 REST endpoints over the served models."""

    def __init__(self, models: Mapping[str, ServedModel], metrics: Metrics, authorizer: Authorizer = OPEN) -> None:
        self._models = models
        self._authorizer = authorizer
        self._infer_latency = metrics.latency.labels("v2_infer")
        self._requests = metrics.requests

    def routes(self) -> list[Route]:
        model = "/v2/models/{model_name}"
        version = model + "/versions/{model_version}"
        return [
            Route("/v2/health/live", self.live, methods=["GET"]),
            Route("/v2/health/ready", self.ready, methods=["GET"]),
            Route("/v2", self.server_metadata, methods=["GET"]),
            Route(model, self.model_metadata, methods=["GET"]),
            Route(version, self.model_metadata, methods=["GET"]),
            Route(model + "/ready", self.model_ready, methods=["GET"]),
            Route(version + "/ready", self.model_ready, methods=["GET"]),
            Route(model + "/infer", self.infer, methods=["POST"]),
            Route(version + "/infer", self.infer, methods=["POST"]),
        ]

    async def live(self, request: Request) -> Response:
        return _health(True)

    async def ready(self, request: Request) -> Response:
        return _health(all(model.ready for model in self._models.values()))

    async def server_metadata(self, request: Request) -> Response:
        return json_response({"name": SERVER_NAME, "version": SERVER_VERSION, "extensions": []})

    async def model_metadata(self, request: Request) -> Response:
        try:
            model, _ = self._resolve(request)
        except (NotFoundError, ForbiddenError) as error:
            return error_response(error)
        width = len(model.spec.features)
        return json_response(
            {
                "name": model.name,
                "versions": list(model.versions),
                "platform": PLATFORMS[model.spec.framework],
                "inputs": [{"name": INPUT_NAME, "datatype": "FP32", "shape": [-1, width]}],
                "outputs": [{"name": OUTPUT_NAME, "datatype": "FP64", "shape": [-1]}],
            }
        )

    async def model_ready(self, request: Request) -> Response:
        try:
            _, state = self._resolve(request)
        except (NotFoundError, ForbiddenError) as error:
            return error_response(error)
        return _health(state.ready)

    async def infer(self, request: Request) -> Response:
        started = time.perf_counter()
        try:
            model, state = self._resolve(request)
            if state.scorer is None:
                raise ModelNotReadyError(f"model {model.name} version {state.version} is not ready")
            body = await json_body(request)
            rows = parse_input(body, len(model.spec.features))
            check_outputs(body)
            scores = state.scorer.score(rows)
        except Exception as error:  # every failure becomes the protocol's error object
            response = error_response(error)
        else:
            reply: dict[str, Any] = {"model_name": model.name, "model_version": state.version}
            if "id" in body:
                reply["id"] = body["id"]
            reply["outputs"] = [
                {"name": OUTPUT_NAME, "datatype": "FP64", "shape": [len(scores)], "data": scores.tolist()}
            ]
            response = json_response(reply)
        self._infer_latency.observe(time.perf_counter() - started)
        self._requests.labels("v2_infer", str(response.status_code), caller_of(request.scope).name).inc()
        return response

    def _resolve(self, request: Request) -> tuple[ServedModel, VersionState]:
        name = request.path_params["model_name"]
        self._authorizer.require(caller_of(request.scope), Action.INFER, (name,))
        model = self._models.get(name)
        if model is None:
            raise NotFoundError(f"model {name!r} is not served here; served: {', '.join(self._models)}")
        version = request.path_params.get("model_version", model.spec.rollout.primary)
        state = model.versions.get(version)
        if state is None:
            raise NotFoundError(f"model {name} has no served version {version!r}; served: {', '.join(model.versions)}")
        return model, state


def parse_input(body: Mapping[str, Any], width: int) -> NDArray[np.float32]:
    """The rows of a V2 inference request: one tensor ``input`` of shape ``[n, width]`` (or ``[width]``)."""
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise RequestError(f"inputs: send a list of one tensor {{'name': '{INPUT_NAME}', 'shape': [n, {width}], ...}}")
    tensor = inputs[0]
    datatype = tensor.get("datatype")
    if datatype not in NUMERIC_DATATYPES:
        raise RequestError(f"inputs[0].datatype: {datatype!r} is not a numeric V2 datatype; send FP32")
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
        raise RequestError(f"inputs[0].shape: send a list of integers, e.g. [1, {width}]")
    if shape not in ([width],) and (len(shape) != 2 or shape[1] != width or shape[0] < 1):
        raise RequestError(f"inputs[0].shape: {shape} does not fit this model; send [n, {width}]")
    try:
        data = np.asarray(tensor.get("data"), dtype=np.float32).reshape(-1)
    except (TypeError, ValueError):
        raise RequestError("inputs[0].data: send numbers, flat or nested in row-major order") from None
    if data.size != int(np.prod(shape)):
        raise RequestError(f"inputs[0].data: {data.size} values do not fill shape {shape}")
    return data.reshape(-1, width)


def check_outputs(body: Mapping[str, Any]) -> None:
    """Only ``score`` can be asked for; the protocol lets a request name its outputs."""
    outputs = body.get("outputs")
    if outputs is None:
        return
    if not isinstance(outputs, list):
        raise RequestError("outputs: send a list of {'name': ...} objects")
    for index, output in enumerate(outputs):
        name = output.get("name") if isinstance(output, dict) else None
        if name != OUTPUT_NAME:
            raise RequestError(f"outputs[{index}].name: {name!r} is not an output of this model; use {OUTPUT_NAME!r}")
