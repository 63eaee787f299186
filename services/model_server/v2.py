"""The Open Inference Protocol (V2) over REST: health, metadata and inference.

Each served model takes one tensor ``input`` of shape ``[-1, F]`` whose columns are the
spec's ``features`` in order, and returns one tensor ``score`` of shape ``[-1]``: the
probability of the bad outcome. Health answers the protocol's objects (``{"live": true}``,
``{"ready": true}``, ``{"name": ..., "ready": true}``), 200 when true and 503 when not.
Errors are the protocol's ``{"error": "..."}`` and, as the protocol has it, a request
the server cannot use is 400 (with ``field`` naming what is wrong).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import msgspec
import numpy as np
from numpy.typing import NDArray
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlplat.access import Action
from mlplat.errors import NotFoundError
from mlplat.models import VersionState
from mlplat.operations.metric_names import NO_VERSION, UNKNOWN_MODEL
from mlplat.spec.kinds import Framework
from services.errors import RequestError, ServiceNotReadyError
from services.identity import OPEN, Authorizer, ForbiddenError, caller_of
from services.model_server.metrics import ERROR_OUTCOME, SCORED_OUTCOME, Metrics
from services.model_server.registry import ServedModel
from services.model_server.schemas import InferenceRequest, RequestInput
from services.request_body import decode, read_bounded
from services.responses import error_response, json_response

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


#: Most rows one inference request may score. Scoring runs on the event loop, so a batch
#: holds up every decision behind it: 4096 rows take about 5 ms (decode, convert, score),
#: the queue-delay target; the 8 MiB a body may hold are some 300,000 rows, almost a
#: second. A larger batch is sent as several requests.
MAX_INFER_ROWS = 4096
_INFER_REQUEST = msgspec.json.Decoder(InferenceRequest)
#: Values a float32 tensor holds: a larger number would be scored as infinity.
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _health(body: dict[str, object], ok: bool) -> Response:
    return json_response(body, 200 if ok else 503)


class V2Api:
    """Handlers of the V2 REST endpoints over the served models."""

    def __init__(
        self, models: Mapping[str, ServedModel], metrics: Metrics, max_body_bytes: int, authorizer: Authorizer = OPEN
    ) -> None:
        self._models = models
        self._metrics = metrics
        self._max_body_bytes = max_body_bytes
        self._authorizer = authorizer

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
        return _health({"live": True}, True)

    async def ready(self, request: Request) -> Response:
        ready = all(model.ready for model in self._models.values())
        return _health({"ready": ready}, ready)

    async def server_metadata(self, request: Request) -> Response:
        return json_response({"name": SERVER_NAME, "version": SERVER_VERSION, "extensions": []})

    async def model_metadata(self, request: Request) -> Response:
        try:
            model, _ = self._resolve(request)
        except (NotFoundError, ForbiddenError) as error:
            return error_response(error)
        return json_response(model_metadata(model))

    async def model_ready(self, request: Request) -> Response:
        try:
            model, state = self._resolve(request)
        except (NotFoundError, ForbiddenError) as error:
            return error_response(error)
        return _health({"name": model.name, "ready": state.ready}, state.ready)

    async def infer(self, request: Request) -> Response:
        started = time.perf_counter()
        name = request.path_params["model_name"]
        version = NO_VERSION
        try:
            model, state = self._resolve(request)
            version = state.version
            if state.scorer is None:
                raise ServiceNotReadyError(f"model {model.name} version {state.version} is not ready")
            body = decode(await read_bounded(request, self._max_body_bytes), _INFER_REQUEST, status=400)
            rows = parse_input(body.inputs, len(model.spec.features))
            check_outputs(body)
            scores = state.scorer.score(rows)
        except Exception as error:  # every failure becomes the protocol's error object
            response = error_response(error)
        else:
            reply: dict[str, Any] = {"model_name": model.name, "model_version": state.version}
            if body.id is not msgspec.UNSET:
                reply["id"] = body.id
            reply["outputs"] = [
                {"name": OUTPUT_NAME, "datatype": "FP64", "shape": [len(scores)], "data": scores.tolist()}
            ]
            response = json_response(reply)
        status = response.status_code
        self._metrics.observe_request(
            "v2_infer",
            name if name in self._models else UNKNOWN_MODEL,
            version,
            SCORED_OUTCOME if status == 200 else ERROR_OUTCOME,
            status,
            time.perf_counter() - started,
            caller_of(request.scope).name,
        )
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


def model_metadata(model: ServedModel) -> dict[str, object]:
    """``$metadata_model_response``: the one input tensor and the one output tensor."""
    return {
        "name": model.name,
        "versions": list(model.versions),
        "platform": PLATFORMS[model.spec.framework],
        "inputs": [{"name": INPUT_NAME, "datatype": "FP32", "shape": [-1, len(model.spec.features)]}],
        "outputs": [{"name": OUTPUT_NAME, "datatype": "FP64", "shape": [-1]}],
    }


def _bad(field: str, problem: str) -> RequestError:
    return RequestError(field, problem, status=400)


def parse_input(inputs: list[RequestInput], width: int) -> NDArray[np.float32]:
    """The rows of a V2 inference request: one tensor ``input`` of shape ``[n, width]`` (or ``[width]``)."""
    if len(inputs) != 1:
        raise _bad("inputs", f"send a list of one tensor {{'name': '{INPUT_NAME}', 'shape': [n, {width}], ...}}")
    tensor = inputs[0]
    if tensor.name != INPUT_NAME:
        raise _bad("inputs[0].name", f"{tensor.name!r} is not an input of this model; its one input is {INPUT_NAME!r}")
    if tensor.datatype not in NUMERIC_DATATYPES:
        raise _bad("inputs[0].datatype", f"{tensor.datatype!r} is not a numeric V2 datatype; send FP32")
    shape = tensor.shape
    if shape != [width] and (len(shape) != 2 or shape[1] != width or shape[0] < 1):
        raise _bad("inputs[0].shape", f"{shape} does not fit this model; send [n, {width}]")
    rows = 1 if shape == [width] else shape[0]
    if rows > MAX_INFER_ROWS:
        raise RequestError(
            "inputs[0].shape", f"{shape} is {rows} rows; at most {MAX_INFER_ROWS} per request: split the batch", 413
        )
    _check_length(tensor.data, rows, width, shape)
    data = _numbers(tensor.data)
    if data.size != int(np.prod(shape)):
        raise _bad("inputs[0].data", f"{data.size} values do not fill shape {shape}")
    return data.reshape(-1, width)


def _check_length(data: list[Any], rows: int, width: int, shape: list[int]) -> None:
    """``data`` holds ``rows`` x ``width`` values, flat or as rows: checked before any of it is converted."""
    nested = bool(data) and isinstance(data[0], list)
    if not nested and len(data) == rows * width:
        return
    if nested and len(data) == rows and all(isinstance(row, list) and len(row) == width for row in data):
        return
    raise _bad("inputs[0].data", f"{len(data)} {'rows' if nested else 'values'} do not fill shape {shape}")


def _numbers(data: list[Any]) -> NDArray[np.float32]:
    """``data`` (flat or nested) as float32; anything but finite numbers and bools is refused."""
    try:
        array = np.asarray(data)
    except (TypeError, ValueError, OverflowError, RecursionError):
        array = np.asarray([], dtype=object)
    if array.dtype.kind not in "biuf" or (array.size == 0 and data):
        raise _bad("inputs[0].data", "send numbers, flat or nested in row-major order")
    values = array.astype(np.float64).reshape(-1)
    if values.size and not np.all(np.abs(values) <= _FLOAT32_MAX):
        raise _bad("inputs[0].data", "holds a value that is not a finite float32 number")
    return values.astype(np.float32)


def check_outputs(body: InferenceRequest) -> None:
    """Only ``score`` can be asked for; the protocol lets a request name its outputs."""
    if body.outputs is msgspec.UNSET:
        return
    for index, output in enumerate(body.outputs):
        if output.name != OUTPUT_NAME:
            raise _bad(f"outputs[{index}].name", f"{output.name!r} is not an output of this model; use {OUTPUT_NAME!r}")
