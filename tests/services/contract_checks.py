"""Schemathesis against a running service: zero 5xx and zero answers outside its OpenAPI document.

:func:`fuzz_every_operation` loads the document the running server publishes at
``/openapi.json``, and for each operation lets schemathesis generate requests from it,
valid ones and ones that break the schema, checking every answer with :data:`CHECKS`.
``headers`` is what every request carries (a caller's credentials, once the services
verify them).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    unsupported_method,
]
#: Examples per operation and mode: bounded so both services' runs take well under a minute.
MAX_EXAMPLES = 25
#: How the services refuse a request that breaks the schema (413: over a size limit; 403: a
#: well-formed request of a caller without the grant is refused after parsing).
CONFIG = SchemathesisConfig.from_str(
    """
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "413", "422"]
"""
)


def fuzz_every_operation(
    base_url: str, headers: dict[str, str] | None = None, paths: Collection[str] | None = None
) -> list[str]:
    """Fuzz each operation of the server's document (of ``paths``, when given) in both modes; the operations covered."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", config=CONFIG, headers=headers or {})
    covered = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if paths is not None and operation.path not in paths:
            continue
        # An operation without a body (GET) has nothing to break: only valid requests exist.
        has_body = "requestBody" in operation.definition.raw
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if has_body else (GenerationMode.POSITIVE,):
            _fuzz(operation, mode, base_url, headers or {})
        covered.append(f"{operation.method.upper()} {operation.path}")
    return covered


def _fuzz(operation: Any, mode: GenerationMode, base_url: str, headers: dict[str, str]) -> None:
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=10)

    check()
