"""Repeated log lines (a store outage fails every request) are logged once per interval, with a count."""

from __future__ import annotations

import logging

import pytest

from services.log_limit import RateLimitedLog


def test_one_line_per_key_per_interval_then_the_count_of_those_held_back(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = iter([0.0, 1.0, 2.0, 3.0, 11.0, 11.5])
    monkeypatch.setattr("services.log_limit.time.monotonic", lambda: next(clock))
    limited = RateLimitedLog(logging.getLogger("test.limited"), interval_seconds=10.0)

    with caplog.at_level(logging.WARNING, logger="test.limited"):
        logged = [
            limited.warning("store", "store down: %s", "timeout"),
            limited.warning("store", "store down: %s", "timeout"),
            limited.warning("log", "decision log down"),
            limited.warning("store", "store down: %s", "timeout"),
            limited.warning("store", "store down: %s", "refused"),
            limited.warning("store", "store down: %s", "refused"),
        ]

    assert logged == [True, False, True, False, True, False]
    assert caplog.messages == [
        "store down: timeout",
        "decision log down",
        "store down: refused (2 more like this in the last 10 s)",
    ]
