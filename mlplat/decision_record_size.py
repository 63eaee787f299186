"""The largest decision record a model's requests can make: what Kinesis must take in one record.

The model server writes one JSON record per decision (``services/model_server/decisions.py``):
the request as decoded (entity keys and numeric request values), every model input as scored, the outcome and its reasons (or the
refusal), and the caller. Its size depends on the model's spec (its inputs, request values
and entity keys, reason phrases) and on the bounds the server puts on each request value
(the constants here, which ``services/field_types.py`` enforces; a test ties the two). The
bound counts every string at its escaped worst (orjson writes a control character as
``\\u00XX``, six bytes), every number at its longest, and an allowance for the fixed fields
and an error text, so no request the server accepts makes a larger record.
"""

from __future__ import annotations

import json

from mlplat.catalog import Catalog
from mlplat.spec.types import JoinKeyType

#: Longest join-key value (an id) a request may send, in characters
#: (``services.field_types.MAX_KEY_LENGTH``). Request values are numbers (validate refuses others).
MAX_KEY_CHARS = 256
#: The most bytes one character takes in the record's JSON (``\u0001``).
ESCAPED_CHAR_BYTES = 6
#: The longest JSON number: an int64 (20 characters) or a double (``-1.7976931348623157e+308``, 24).
NUMBER_BYTES = 24
#: Id, time, model name, caller, kind, version, sha256, canary, decision, score, threshold and
#: the JSON around them, at their longest; and the text of an error recorded after decoding.
FIXED_BYTES = 1024
ERROR_BYTES = 1024
#: One input as scored beside its reference: ``{"value":..,"source":..,"status":..,"event_time":..}``.
INPUT_BYTES = 160
#: One reason beside its reference and phrase: ``{"feature":..,"value":..,"contribution":..,"phrase":..}``.
REASON_BYTES = 96
#: The refusal's reason text and the JSON around its feature list.
REFUSAL_BYTES = 256


def _text(chars: int) -> int:
    return 2 + ESCAPED_CHAR_BYTES * chars


def _json(text: str) -> int:
    return len(json.dumps(text, ensure_ascii=False).encode())


def _request_bytes(catalog: Catalog, model: str) -> int:
    spec = catalog.model(model).spec
    views = {ref.partition(":")[0] for ref in spec.features} & set(catalog.feature_views)
    keys = {key.request_key: key.type for view in views for key in catalog.join_keys(view)}
    entities = sum(
        _json(name) + 2 + (_text(MAX_KEY_CHARS) if kind is JoinKeyType.STRING else NUMBER_BYTES)
        for name, kind in keys.items()
    )
    values = sum(_json(value.name) + 2 + NUMBER_BYTES for value in spec.request_values)
    return 64 + entities + values


def decision_record_bound(catalog: Catalog, model: str) -> int:
    """The most bytes one decision, refusal or error record of ``model`` can take, partition key included."""
    inputs = catalog.model_inputs(model)
    features = sum(_json(i.ref) + INPUT_BYTES for i in inputs)
    reasons = sorted((_json(i.ref) + _json(i.reason) + REASON_BYTES for i in inputs), reverse=True)
    outcome = sum(reasons[: catalog.model(model).spec.decision.reason_codes])
    refusal = REFUSAL_BYTES + sum(_json(i.ref) + 1 for i in inputs)
    partition_key = 256
    return FIXED_BYTES + ERROR_BYTES + partition_key + _request_bytes(catalog, model) + features + max(outcome, refusal)
