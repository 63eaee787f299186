"""The registry database as each stack renders it: values RDS accepts for the class and version it has."""

from __future__ import annotations

import re

import pytest

from infra.aws_rules import mysql_log_export_problems, performance_insights_supported
from infra.rendering import STACKS, Rendered, render, stack_config
from mlplat.catalog import Catalog

INSTANCE = "aws:rds/instance:Instance"
PARAMETERS = "aws:rds/parameterGroup:ParameterGroup"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


def _instance(rendered: Rendered, stack: str) -> dict[str, object]:
    return rendered.one(INSTANCE, f"mlplat-{stack}-registry-mysql").plain


@pytest.mark.parametrize("stack", STACKS)
def test_performance_insights_is_on_only_where_the_instance_class_has_it(
    stacks: dict[str, Rendered], stack: str
) -> None:
    instance = _instance(stacks[stack], stack)
    supported = performance_insights_supported(str(instance["instanceClass"]))
    assert instance.get("performanceInsightsEnabled") is supported
    assert ("performanceInsightsKmsKeyId" in instance) is supported


def test_dev_on_db_t4g_micro_has_no_performance_insights(stacks: dict[str, Rendered]) -> None:
    instance = _instance(stacks["dev"], "dev")
    assert (instance["instanceClass"], instance["performanceInsightsEnabled"]) == ("db.t4g.micro", False)


@pytest.mark.parametrize("stack", STACKS)
def test_the_parameter_group_family_is_the_engine_versions(stacks: dict[str, Rendered], stack: str) -> None:
    rendered = stacks[stack]
    instance = _instance(rendered, stack)
    (group,) = rendered.of_type(PARAMETERS)
    assert (instance["engine"], instance["engineVersion"], group.plain["family"]) == ("mysql", "8.4", "mysql8.4")
    assert group.plain["namePrefix"] == f"mlplat-{stack}-registry-mysql8-4-"
    assert instance["allowMajorVersionUpgrade"] is True


def test_moving_to_another_major_version_moves_the_family_and_the_group_name(example_catalog: Catalog) -> None:
    config = stack_config("staging")
    older = config.model_copy(update={"database": config.database.model_copy(update={"engine_version": "8.0"})})
    (group,) = render(example_catalog, older).of_type(PARAMETERS)
    assert (group.plain["family"], group.plain["namePrefix"]) == ("mysql8.0", "mlplat-staging-registry-mysql8-0-")


@pytest.mark.parametrize("stack", STACKS)
def test_the_final_snapshot_identifier_is_unique_per_instance(stacks: dict[str, Rendered], stack: str) -> None:
    instance = _instance(stacks[stack], stack)
    assert re.fullmatch(rf"mlplat-{stack}-registry-final-[0-9a-f]{{8}}", str(instance["finalSnapshotIdentifier"]))


@pytest.mark.parametrize("stack", STACKS)
def test_the_instance_waits_for_its_monitoring_role_to_have_its_policy(stacks: dict[str, Rendered], stack: str) -> None:
    instance = stacks[stack].one(INSTANCE, f"mlplat-{stack}-registry-mysql")
    assert f"mlplat-{stack}-registry-monitoring-policy" in instance.depends_on


@pytest.mark.parametrize("stack", STACKS)
def test_every_exported_log_is_written_to_a_file(stacks: dict[str, Rendered], stack: str) -> None:
    rendered = stacks[stack]
    exports = _instance(rendered, stack)["enabledCloudwatchLogsExports"]
    (group,) = rendered.of_type(PARAMETERS)
    parameters = {p["name"]: p["value"] for p in group.plain["parameters"]}
    assert isinstance(exports, list)
    assert "slowquery" in exports
    assert mysql_log_export_problems(exports, parameters) == []


@pytest.mark.parametrize("stack", STACKS)
def test_each_exported_log_lands_in_a_group_made_first_with_the_logs_key_and_a_retention(
    stacks: dict[str, Rendered], stack: str
) -> None:
    rendered = stacks[stack]
    instance = rendered.one(INSTANCE, f"mlplat-{stack}-registry-mysql")
    exports = instance.plain["enabledCloudwatchLogsExports"]
    groups = {g.plain["name"]: g for g in rendered.of_type(LOG_GROUP) if g.name.startswith(f"mlplat-{stack}-registry-")}
    assert set(groups) == {f"/aws/rds/instance/mlplat-{stack}-registry/{log}" for log in exports}
    for group in groups.values():
        assert group.plain["kmsKeyId"].endswith(f"mlplat-{stack}-logs-key-key")
        assert group.plain["retentionInDays"] == stack_config(stack).cluster.log_retention_days
        assert group.name in instance.depends_on
