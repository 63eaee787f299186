"""A breaker in front of the online store: after a failure, fail fast for a while.

Reads run on the event loop (a thread hop costs more than a Redis round trip), so a
store that hangs would stall the loop for up to its timeout on every request, and
liveness probes with it. After one failure the gate answers "unavailable" at once for
``retry_seconds``, then lets the next call try the store again: the server recovers by
itself, and the loop is blocked at most one timeout per retry period.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from mlplat.errors import StoreUnavailableError

T = TypeVar("T")


class StoreGate:
    """Calls the store unless it failed less than ``retry_seconds`` ago."""

    def __init__(self, retry_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.retry_seconds = retry_seconds
        self._clock = clock
        self._closed_until = 0.0

    @property
    def open(self) -> bool:
        """Whether calls currently reach the store."""
        return self._clock() >= self._closed_until

    def check(self) -> None:
        """Raise :class:`StoreUnavailableError` while the gate is shut after a failure."""
        if self._clock() < self._closed_until:
            raise StoreUnavailableError(
                f"online store failed less than {self.retry_seconds} s ago; not calling it until then"
            )

    def failed(self) -> None:
        self._closed_until = self._clock() + self.retry_seconds

    def call(self, action: Callable[[], T]) -> T:
        """``action()`` through the gate."""
        self.check()
        try:
            return action()
        except StoreUnavailableError:
            self.failed()
            raise
