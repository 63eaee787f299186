"""After a store failure the gate fails fast, then lets a call through again."""

from __future__ import annotations

import pytest

from mlplat.errors import StoreUnavailableError
from mlplat.online_store.gate import StoreGate


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_failure_shuts_the_gate_for_the_retry_period() -> None:
    clock = Clock()
    gate = StoreGate(0.5, clock)
    calls: list[str] = []

    def failing() -> None:
        calls.append("store")
        raise StoreUnavailableError("down")

    with pytest.raises(StoreUnavailableError, match="down"):
        gate.call(failing)
    clock.now += 0.4
    with pytest.raises(StoreUnavailableError, match=r"less than 0\.5 s ago"):
        gate.call(failing)
    assert (calls, gate.open) == (["store"], False)

    clock.now += 0.1
    assert gate.open
    assert gate.call(lambda: "back") == "back"


def test_other_errors_do_not_shut_the_gate() -> None:
    gate = StoreGate(0.5, Clock())

    with pytest.raises(KeyError):
        gate.call(lambda: {}["x"])

    assert gate.open


def test_changes_of_health_are_reported_once_each() -> None:
    clock = Clock()
    changes: list[bool] = []
    gate = StoreGate(0.5, clock, on_change=changes.append)

    def failing() -> None:
        raise StoreUnavailableError("down")

    assert gate.call(lambda: 1) == 1
    for _ in range(2):
        with pytest.raises(StoreUnavailableError):
            gate.call(failing)
        clock.now += 1
    assert gate.healthy is False
    assert gate.call(lambda: 2) == 2
    assert gate.call(lambda: 3) == 3
    assert (changes, gate.healthy) == ([False, True], True)
