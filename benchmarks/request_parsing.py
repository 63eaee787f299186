"""CPU per parse of a request body: the services' msgspec path beside pydantic v2 and bare orjson.

    PYTHONPATH=. .venv/bin/python benchmarks/request_parsing.py [--iterations 50000]

Each figure is CPU time (``time.process_time``) per parse, best of 5 rounds, of:

* a decision request of ``default_risk`` (two entity keys, two request values) and a
  feature read of 10 entities x 10 features;
* ``msgspec``: what the services run, :func:`services.request_body.decode` (one typed
  decode with every bound checked, plus the duplicate-key count);
* ``msgspec decode``: the typed decode alone, to show what the duplicate-key count adds;
* ``pydantic``: the same models in pydantic v2 (``extra="forbid"``, the same bounds),
  ``model_validate_json``;
* ``orjson``: ``orjson.loads`` alone, no checks at all (the floor).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Annotated

import msgspec
import orjson
from pydantic import BaseModel, ConfigDict, Field

from services.feature_server.schemas import read_request_type
from services.field_types import FLOAT64_MAX, INT32_MAX, INT32_MIN, MAX_KEY_LENGTH, MAX_NAME_LENGTH
from services.request_body import decode
from tests.online_specs import online_test_catalog

DECISION = orjson.dumps(
    {
        "entities": {"applicant_id": "a-1029384", "merchant_id": "m-77"},
        "values": {"order_amount": 420.5, "instalments": 4},
    }
)
READ = orjson.dumps(
    {
        "features": [f"typed:{name}" for name in ("count32", "count64", "amount", "flag", "label")] * 2,
        "entities": {"applicant_id": [f"a-{i}" for i in range(10)]},
    }
)


class Decision(msgspec.Struct, forbid_unknown_fields=True):
    entities: msgspec.defstruct(  # type: ignore[valid-type]
        "Entities",
        [
            ("applicant_id", Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_KEY_LENGTH)]),
            ("merchant_id", Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_KEY_LENGTH)]),
        ],
        forbid_unknown_fields=True,
    )
    values: msgspec.defstruct(  # type: ignore[valid-type]
        "Values",
        [
            ("order_amount", Annotated[float, msgspec.Meta(ge=-FLOAT64_MAX, le=FLOAT64_MAX)]),
            ("instalments", Annotated[int, msgspec.Meta(ge=INT32_MIN, le=INT32_MAX)]),
        ],
        forbid_unknown_fields=True,
    )


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class PydanticEntities(Strict):
    applicant_id: Annotated[str, Field(min_length=1, max_length=MAX_KEY_LENGTH)]
    merchant_id: Annotated[str, Field(min_length=1, max_length=MAX_KEY_LENGTH)]


class PydanticValues(Strict):
    order_amount: Annotated[float, Field(ge=-FLOAT64_MAX, le=FLOAT64_MAX)]
    instalments: Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]


class PydanticDecision(Strict):
    entities: PydanticEntities
    values: PydanticValues


class PydanticRead(Strict):
    entities: dict[
        str, Annotated[list[Annotated[str, Field(min_length=1, max_length=MAX_KEY_LENGTH)]], Field(min_length=1)]
    ]
    features: Annotated[list[Annotated[str, Field(max_length=2 * MAX_NAME_LENGTH + 1)]], Field(min_length=1)] | None = (
        None
    )
    feature_service: str | None = None
    full_feature_names: bool | None = None


def cpu_per_call(call: Callable[[], object], iterations: int) -> float:
    """Best of 5 rounds: CPU seconds per call."""
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        for _ in range(iterations):
            call()
        best = min(best, (time.process_time() - started) / iterations)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=50_000)
    iterations = parser.parse_args().iterations
    decision = msgspec.json.Decoder(Decision)
    read = msgspec.json.Decoder(read_request_type(online_test_catalog()))
    rows = [
        ("decision", DECISION, decision, PydanticDecision),
        ("read 10x10", READ, read, PydanticRead),
    ]
    print("| request | bytes | msgspec (services) | msgspec decode | pydantic v2 | orjson.loads, no checks |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, raw, decoder, model in rows:
        calls: list[Callable[[], object]] = [
            lambda raw=raw, decoder=decoder: decode(raw, decoder),
            lambda raw=raw, decoder=decoder: decoder.decode(raw),
            lambda raw=raw, model=model: model.model_validate_json(raw),
            lambda raw=raw: orjson.loads(raw),
        ]
        figures = [cpu_per_call(call, iterations) * 1e6 for call in calls]
        print(f"| {name} | {len(raw)} | " + " | ".join(f"{f:.2f} µs" for f in figures) + " |")


if __name__ == "__main__":
    main()
