"""What the platform alarms on, as data: one :class:`AlarmSpec` per CloudWatch alarm.

The thresholds are the decisions; :mod:`infra.components.observability` only turns each
spec into a ``MetricAlarm`` routed to the alert topic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infra.aws_rules import application_id_metrics_problem

GIB = 1024**3


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm: a metric, a statistic over a period, and when it is bad."""

    suffix: str
    """Appended to the owner's name to make the alarm's logical and physical name."""
    namespace: str
    metric: str
    dimensions: Mapping[str, Any]
    """Values may be Pulumi outputs (an application id known after creation)."""
    threshold: float
    comparison: str = "GreaterThanThreshold"
    statistic: str = "Average"
    period: int = 300
    evaluation_periods: int = 3
    description: str = ""
    treat_missing_data: str = "missing"


def database_alarms(identifier: str, allocated_storage_gb: int) -> list[AlarmSpec]:
    """CPU, free storage (below 10% of the initial allocation) and connections of the registry."""
    dims = {"DBInstanceIdentifier": identifier}
    return [
        AlarmSpec("cpu", "AWS/RDS", "CPUUtilization", dims, 80, description="Registry CPU above 80% for 15 minutes"),
        AlarmSpec(
            "free-storage",
            "AWS/RDS",
            "FreeStorageSpace",
            dims,
            allocated_storage_gb * GIB * 0.1,
            comparison="LessThanThreshold",
            statistic="Minimum",
            description="Registry free storage below 10% of its allocation",
        ),
        AlarmSpec(
            "connections",
            "AWS/RDS",
            "DatabaseConnections",
            dims,
            500,
            statistic="Maximum",
            description="More than 500 registry connections: a client is leaking them",
        ),
    ]


def cache_member_ids(group_id: str, members: int) -> list[str]:
    """ElastiCache names the nodes of a replication group ``<group>-001``, ``-002``..."""
    return [f"{group_id}-{index:03d}" for index in range(1, members + 1)]


def cache_alarms(group_id: str, members: int) -> list[AlarmSpec]:
    """Memory, evictions, engine CPU per node; replication lag on replicas."""
    specs: list[AlarmSpec] = []
    for position, node in enumerate(cache_member_ids(group_id, members)):
        dims = {"CacheClusterId": node}
        specs += [
            AlarmSpec(
                f"{node}-memory",
                "AWS/ElastiCache",
                "DatabaseMemoryUsagePercentage",
                dims,
                80,
                description="Online store memory above 80%: evictions follow",
            ),
            AlarmSpec(
                f"{node}-evictions",
                "AWS/ElastiCache",
                "Evictions",
                dims,
                0,
                statistic="Sum",
                evaluation_periods=1,
                description="The online store is evicting features",
            ),
            AlarmSpec(
                f"{node}-cpu", "AWS/ElastiCache", "EngineCPUUtilization", dims, 80, description="Engine CPU above 80%"
            ),
        ]
        if position > 0:
            specs.append(
                AlarmSpec(
                    f"{node}-replication-lag",
                    "AWS/ElastiCache",
                    "ReplicationLag",
                    dims,
                    1,
                    statistic="Maximum",
                    description="Replica more than 1 s behind the primary",
                )
            )
    return specs


def node_alarms(cluster_name: str) -> list[AlarmSpec]:
    """Container Insights node CPU, memory and failed nodes."""
    dims = {"ClusterName": cluster_name}
    return [
        AlarmSpec("node-cpu", "ContainerInsights", "node_cpu_utilization", dims, 80, description="Nodes above 80% CPU"),
        AlarmSpec(
            "node-memory",
            "ContainerInsights",
            "node_memory_utilization",
            dims,
            85,
            description="Nodes above 85% memory",
        ),
        AlarmSpec(
            "failed-nodes",
            "ContainerInsights",
            "cluster_failed_node_count",
            dims,
            0,
            statistic="Maximum",
            evaluation_periods=2,
            description="Nodes are failing",
        ),
    ]


def batch_alarms(application_id: Any, release_label: str) -> list[AlarmSpec]:
    """Any failed EMR Serverless job run (materialization did not happen) of an application on ``release_label``.

    :class:`ValueError` if that release no longer publishes the metric with these dimensions
    (:func:`infra.aws_rules.application_id_metrics_problem`): the alarm would never fire.
    """
    problem = application_id_metrics_problem(release_label)
    if problem is not None:
        raise ValueError(f"the failed-jobs alarm: {problem}")
    return [
        AlarmSpec(
            "failed-jobs",
            "AWS/EMRServerless",
            "FailedJobs",
            {"ApplicationId": application_id},
            0,
            statistic="Sum",
            period=300,
            evaluation_periods=1,
            treat_missing_data="notBreaching",
            description="A materialization job failed; see the job's logs in the logs bucket under emr/",
        )
    ]
