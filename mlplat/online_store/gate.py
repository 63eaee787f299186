"""A breaker in front of the online store: after a failure, fail fast for a while.

Both servers read the store on their request path; a store that hangs would cost every
request the full timeout (and, on the feature server's event loop, stall liveness probes
too). After one failure the gate answers "unavailable" at once for ``retry_seconds``,
then lets the next call try the store again: a server recovers by itself, and at most one
request per retry period pays the timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from mlplat.errors import StoreUnavailableError

T = TypeVar("T")


class StoreGate:
    """Calls the store unless it failed less than ``retry_seconds`` ago."""

    def __init__(
        self,
        retry_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self.retry_seconds = retry_seconds
        self._clock = clock
        self._closed_until = 0.0
        self._on_change = on_change
        #: Whether the last store call succeeded (False from a failure to the next success).
        self.healthy = True

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
        """Record a failed store call: shut the gate for ``retry_seconds``."""
        self._closed_until = self._clock() + self.retry_seconds
        self._set_healthy(False)

    def succeeded(self) -> None:
        """Record a successful store call."""
        self._set_healthy(True)

    def _set_healthy(self, healthy: bool) -> None:
        if healthy != self.healthy:
            self.healthy = healthy
            if self._on_change is not None:
                self._on_change(healthy)

    def call(self, action: Callable[[], T]) -> T:
        """``action()`` through the gate."""
        self.check()
        try:
            result = action()
        except StoreUnavailableError:
            self.failed()
            raise
        self.succeeded()
        return result
