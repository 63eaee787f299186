"""What the platform alarms on, with evaluation windows CloudWatch accepts."""

from __future__ import annotations

import pytest

from infra import alarms
from infra.aws_rules import metric_alarm_problems
from infra.rendering import STACKS, Rendered


def test_cache_alarms_cover_each_node_and_lag_only_on_replicas() -> None:
    specs = alarms.cache_alarms("mlplat-prod-online", 3)
    lag = [s.dimensions["CacheClusterId"] for s in specs if s.metric == "ReplicationLag"]
    assert lag == ["mlplat-prod-online-002", "mlplat-prod-online-003"]
    assert {s.dimensions["CacheClusterId"] for s in specs if s.metric == "Evictions"} == {
        "mlplat-prod-online-001",
        "mlplat-prod-online-002",
        "mlplat-prod-online-003",
    }


def test_free_storage_alarms_at_a_tenth_of_the_allocation() -> None:
    free = next(s for s in alarms.database_alarms("db", 100) if s.metric == "FreeStorageSpace")
    assert (free.threshold, free.comparison) == (10 * alarms.GIB, "LessThanThreshold")


@pytest.mark.parametrize("stack", STACKS)
def test_every_alarm_of_a_stack_has_an_evaluation_window_cloudwatch_accepts(
    stacks: dict[str, Rendered], stack: str
) -> None:
    found = stacks[stack].of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    assert found
    problems = {
        a.name: p
        for a in found
        if (p := metric_alarm_problems(int(a.plain["period"]), int(a.plain["evaluationPeriods"])))
    }
    assert problems == {}


def test_the_failed_jobs_alarm_refuses_a_release_that_would_leave_it_silent() -> None:
    assert alarms.batch_alarms("app", "emr-7.9.0")[0].dimensions == {"ApplicationId": "app"}
    with pytest.raises(ValueError, match=r"emr-7\.10\.0 no longer updates the ApplicationId-only metrics"):
        alarms.batch_alarms("app", "emr-7.10.0")
