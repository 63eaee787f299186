"""Tiny real models for tests: trained on numpy data, written in the formats the server loads.

``example_catalog`` is the repository's catalog with its model artifacts replaced by
these models (and their sha256), so tests exercise the real specs and features.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from mlplat.catalog import Catalog
from mlplat.models.artifacts import sha256_hex
from mlplat.spec.kinds import Model, ModelVersion, Rollout

ROWS = 600


def training_data(width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose label depends on the first three columns, so contributions differ."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(ROWS, width)).astype(np.float32)
    logit = 1.5 * x[:, 0] - 1.0 * x[:, 1] + 0.5 * x[:, 2] - 1.0
    y = (rng.random(ROWS) < 1 / (1 + np.exp(-logit))).astype(np.int32)
    return x, y


def write_xgboost(path: Path, width: int, seed: int = 0, rounds: int = 20) -> str:
    """Train a small binary:logistic booster, save it as UBJ or JSON (by suffix); return its sha256."""
    import xgboost

    x, y = training_data(width, seed)
    params = {"objective": "binary:logistic", "max_depth": 3, "nthread": 1, "seed": seed}
    booster = xgboost.train(params, xgboost.DMatrix(x, label=y), num_boost_round=rounds)
    path.parent.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(path))
    return sha256_hex(path.read_bytes())


def write_lightgbm(path: Path, width: int, seed: int = 0, rounds: int = 20) -> str:
    """Train a small binary LightGBM booster, save its text model; return its sha256."""
    import lightgbm

    x, y = training_data(width, seed)
    params = {"objective": "binary", "num_leaves": 7, "verbose": -1, "num_threads": 1, "seed": seed}
    booster = lightgbm.train(params, lightgbm.Dataset(x, label=y), num_boost_round=rounds)
    path.parent.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(path))
    return sha256_hex(path.read_bytes())


def write_onnx_logistic(path: Path, weights: list[float], bias: float) -> str:
    """A logistic regression ``sigmoid(x @ w + b)`` as an ONNX graph (input ``x``, output ``p``)."""
    width = len(weights)
    graph = b"".join(
        [
            _field(1, _node(["x", "w"], ["z0"], "MatMul")),
            _field(1, _node(["z0", "b"], ["z"], "Add")),
            _field(1, _node(["z"], ["p"], "Sigmoid")),
            _field(2, b"logistic"),
            _field(5, _tensor("w", [width, 1], weights)),
            _field(5, _tensor("b", [1], [bias])),
            _field(11, _value_info("x", ["n", width])),
            _field(12, _value_info("p", ["n", 1])),
        ]
    )
    opset = _field(2, _varint(13), wire=0)
    model = _field(1, _varint(8), wire=0) + _field(7, graph) + _field(8, opset)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model)
    return sha256_hex(model)


def example_catalog(
    specs_dir: Path, digests: dict[str, dict[str, str]], rollout: dict[str, Rollout] | None = None
) -> Catalog:
    """The repository's catalog with ``digests[model][version]`` as artifact sha256s.

    Versions not in the specs are added (``<model>/<version>/model.<ext>``, approved),
    and ``rollout`` replaces models' rollouts.
    """
    from mlplat.loader import load_catalog

    catalog = load_catalog(specs_dir)
    rollouts = rollout or {}
    objects = [
        _with_versions(obj, digests[obj.metadata.name], rollouts.get(obj.metadata.name))
        if isinstance(obj, Model) and obj.metadata.name in digests
        else obj
        for obj in catalog.objects()
    ]
    return Catalog(objects)


def _with_versions(model: Model, digests: dict[str, str], rollout: Rollout | None) -> Model:
    template = model.spec.versions[0]
    suffix = template.artifact.uri.rsplit(".", 1)[1]
    versions: list[ModelVersion] = []
    for name, digest in digests.items():
        uri = f"{model.metadata.name}/{name}/model.{suffix}"
        artifact = template.artifact.model_copy(update={"uri": uri, "sha256": digest})
        versions.append(template.model_copy(update={"name": name, "artifact": artifact}))
    spec = model.spec.model_copy(update={"versions": versions, "rollout": rollout or model.spec.rollout})
    return model.model_copy(update={"spec": spec})


# --- a minimal protobuf writer for the ONNX fixture (the onnx package is not a dependency) ---


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes, wire: int = 2) -> bytes:
    key = _varint(number << 3 | wire)
    return key + (payload if wire == 0 else _varint(len(payload)) + payload)


def _node(inputs: list[str], outputs: list[str], op: str) -> bytes:
    parts = [_field(1, name.encode()) for name in inputs] + [_field(2, name.encode()) for name in outputs]
    return b"".join([*parts, _field(3, op.lower().encode()), _field(4, op.encode())])


def _tensor(name: str, dims: list[int], values: list[float]) -> bytes:
    dims_part = b"".join(_field(1, _varint(d), wire=0) for d in dims)
    data = struct.pack(f"<{len(values)}f", *values)
    return dims_part + _field(2, _varint(1), wire=0) + _field(8, name.encode()) + _field(9, data)


def _value_info(name: str, shape: list[str | int]) -> bytes:
    dims = b"".join(
        _field(1, _field(2, d.encode()) if isinstance(d, str) else _field(1, _varint(d), wire=0)) for d in shape
    )
    tensor_type = _field(1, _varint(1), wire=0) + _field(2, dims)
    return _field(1, name.encode()) + _field(2, _field(1, tensor_type))
