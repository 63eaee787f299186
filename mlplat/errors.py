"""The one exception hierarchy of the mlplat package.

Every error knows the exit code a command-line run should end with and the HTTP
status a service should answer with; :func:`exit_code_of` and :func:`http_status_of`
are the one place that maps any exception, so unknown exceptions are never echoed to a
user or a client.
"""

from __future__ import annotations


class MlplatError(Exception):
    """Base of every error mlplat raises on purpose."""

    exit_code: int = 1
    http_status: int = 500
    #: A message safe to show to a remote client (no paths, no internals).
    public_message: str = "internal error"


class UsageError(MlplatError):
    """The command was called wrongly (missing directory, bad option value)."""

    exit_code = 2
    http_status = 400


class SpecError(MlplatError):
    """The specs are invalid; carries every diagnostic of the run."""

    exit_code = 1
    http_status = 422


class NotFoundError(MlplatError):
    """A named object (view, feature, model) does not exist."""

    exit_code = 1
    http_status = 404


class StoreUnavailableError(MlplatError):
    """A backing store (online store, registry database) did not answer in time."""

    exit_code = 3
    http_status = 503
    public_message = "store unavailable"


def exit_code_of(error: BaseException) -> int:
    """The process exit code for ``error``: its own for ours, 1 for anything else."""
    return error.exit_code if isinstance(error, MlplatError) else 1


def http_status_of(error: BaseException) -> int:
    """The HTTP status for ``error``: its own for ours, 500 for anything else."""
    return error.http_status if isinstance(error, MlplatError) else 500
