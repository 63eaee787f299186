"""Approval rates per version and role, volumes and bin SQL, on hand-written decision records."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from mlplat.decision_log import segment_path
from mlplat.monitoring.aggregates import WindowAggregates, WindowQuery
from mlplat.monitoring.drift import approval_rates, volumes
from mlplat.monitoring.duckdb_aggregates import DuckDBAggregator, bin_expression
from mlplat.monitoring.log_scan import readable_segments
from mlplat.monitoring.stability import Level
from mlplat.spec.kinds import Thresholds

AS_OF = datetime(2026, 3, 15, tzinfo=UTC)
SHIFT = Thresholds(watch=0.05, act=0.1)


def _record(n: int, days_before: float, kind: str, version: str, decision: str, canary: bool = False) -> str:
    when = (AS_OF - timedelta(days=days_before)).isoformat()
    record = {"id": f"d-{n}", "time": when, "model": "m", "kind": kind, "version": version, "decision": decision}
    if kind != "shadow":
        record["canary"] = canary
    return json.dumps(record)


def _records() -> list[str]:
    lines = []
    for n in range(10):  # previous window: primary approves 8 of 10, the canary 1 of 2
        lines.append(_record(n, 10, "decision", "v2", "approve" if n < 8 else "decline"))
    lines += [
        _record(20, 9, "decision", "v3", "approve", canary=True),
        _record(21, 9, "decision", "v3", "decline", True),
    ]
    for n in range(30, 40):  # current window: primary approves 5 of 10, the shadow 9 of 10
        lines.append(_record(n, 2, "decision", "v2", "approve" if n < 35 else "decline"))
        lines.append(_record(n, 2, "shadow", "v1", "approve" if n < 39 else "decline"))
    lines += [_record(50, 1, "refusal", "v2", "refused"), _record(51, 1, "error", "", "")]
    lines.append(_record(60, 30, "decision", "v2", "approve"))  # before both windows: not read
    return lines


@pytest.fixture
def counts(tmp_path: Path) -> WindowAggregates:
    segment_path(tmp_path, 1).write_text("\n".join(_records()) + "\n")
    query = WindowQuery("m", AS_OF - timedelta(days=14), AS_OF - timedelta(days=7), AS_OF, {}, {})
    with readable_segments(tmp_path) as files:
        return DuckDBAggregator(files).aggregate(query)


def test_rates_per_version_and_role_side_by_side(counts: WindowAggregates) -> None:
    rates = {(r.version, r.role): r for r in approval_rates(counts.rates, SHIFT)}
    assert list(rates) == [("v2", "primary"), ("v3", "canary"), ("v1", "shadow")]
    primary = rates[("v2", "primary")]
    assert (primary.decisions, primary.approval_rate, primary.previous_approval_rate) == (10, 0.5, 0.8)
    assert primary.shift == pytest.approx(0.3)
    assert primary.level is Level.ACT
    canary = rates[("v3", "canary")]
    assert (canary.decisions, canary.approval_rate, canary.previous_approval_rate) == (0, None, 0.5)
    assert canary.level is Level.NONE
    shadow = rates[("v1", "shadow")]
    assert (shadow.approval_rate, shadow.previous_decisions) == (0.9, 0)


def test_volumes_count_refusals_and_errors_not_shadows(counts: WindowAggregates) -> None:
    current, previous = volumes(counts.volumes)
    assert (current.requests, current.decisions, current.refusals, current.errors) == (12, 10, 1, 1)
    assert (current.refusal_rate, current.error_rate) == (1 / 12, 1 / 12)
    assert (previous.requests, previous.decisions) == (12, 12)


@pytest.mark.parametrize(("value", "wanted"), [(-5.0, 0), (1.0, 0), (1.5, 1), (2.0, 1), (2.01, 2), (99.0, 2)])
def test_bin_sql_matches_the_profile_rule(value: float, wanted: int) -> None:
    expression = bin_expression(repr(value), [1.0, 2.0])
    row = duckdb.connect().execute(f"SELECT {expression}").fetchone()
    assert row is not None
    assert row[0] == wanted
