"""Log lines that repeat (every request during a store outage) at most once per interval."""

from __future__ import annotations

import logging
import threading
import time


class RateLimitedLog:
    """One line per key per ``interval_seconds``; the next line says how many were held back."""

    def __init__(self, logger: logging.Logger, interval_seconds: float) -> None:
        self._logger = logger
        self._interval = interval_seconds
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def warning(self, key: str, message: str, *args: object) -> bool:
        """Log ``message % args`` unless ``key`` was logged within the interval; whether it was logged."""
        return self._log(logging.WARNING, key, message, args)

    def error(self, key: str, message: str, *args: object) -> bool:
        """As :meth:`warning`, at ERROR level."""
        return self._log(logging.ERROR, key, message, args)

    def _log(self, level: int, key: str, message: str, args: tuple[object, ...]) -> bool:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._interval:
                self._held[key] = self._held.get(key, 0) + 1
                return False
            self._last[key] = now
            held = self._held.pop(key, 0)
        if held:
            message += " (%d more like this in the last %.0f s)"
            args = (*args, held, self._interval)
        self._logger.log(level, message, *args)
        return True
