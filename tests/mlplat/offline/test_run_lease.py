"""When a run recorded as running has died (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mlplat.offline.run_lease import LeasePolicy, dead_reason
from mlplat.registry import MaterializationRun, RunStatus

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
POLICY = LeasePolicy(heartbeat=15, lease=120)


def run(owner: str | None, silent_s: float, heartbeat: bool = True) -> MaterializationRun:
    last = NOW - timedelta(seconds=silent_s)
    return MaterializationRun(
        1, "v", NOW, NOW, "duckdb", RunStatus.RUNNING, 0, last, None, None, owner, last if heartbeat else None
    )


@pytest.mark.parametrize(
    ("recorded", "dead", "why"),
    [
        (run("here:100", 1), True, "its process here:100 no longer exists"),  # same host, process gone
        (run("here:200", 1), False, None),  # same host, process alive, heartbeating
        (run("there:100", 119), False, None),  # another host within the lease
        (run("there:100", 120), True, "no heartbeat from there:100"),  # the lease is up
        (run(None, 300, heartbeat=False), True, "no heartbeat from an unrecorded owner"),  # an old record
        (run("here:notapid", 5), False, None),
    ],
)
def test_dead_reason(recorded: MaterializationRun, dead: bool, why: str | None) -> None:
    reason = dead_reason(recorded, NOW, POLICY, "here", exists=lambda pid: pid == 200)
    assert (reason is not None) is dead
    if why is not None:
        assert reason is not None
        assert why in reason
