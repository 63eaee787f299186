"""The typed stack config: the committed stacks parse; wrong keys fail with the key and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from infra.config import CONFIG_KEY, StackConfig, StackConfigError, load_stack_file, parse_stack_config
from infra.rendering import STACKS, stack_config

ZONES = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]


def _config(**values: Any) -> dict[str, Any]:
    return {"environment": "dev", "availabilityZones": ZONES, "protect": False, **values}


def _error(values: dict[str, Any]) -> str:
    with pytest.raises(StackConfigError) as caught:
        parse_stack_config(values)
    return str(caught.value)


@pytest.mark.parametrize("stack", STACKS)
def test_the_committed_stacks_parse(stack: str) -> None:
    config = stack_config(stack)
    assert config.environment == stack
    assert config.region == "eu-west-1"


def test_defaults_are_production_grade() -> None:
    config = parse_stack_config({"environment": "prod", "availabilityZones": ZONES})
    assert config.protect is True
    assert config.database.multi_az is True
    assert config.network.nat_gateways == "perAz"
    assert config.cluster.public_access_cidrs == ()


def test_an_unknown_key_names_its_path_and_suggests_the_right_one() -> None:
    message = _error(_config(cluster={"sytemNodes": {}}))
    assert "cluster.sytemNodes: unknown key" in message
    assert "did you mean 'systemNodes'?" in message


def test_every_problem_is_reported_at_once_with_the_value() -> None:
    message = _error(_config(database={"multiAz": "yes"}, network={"vpcCidr": "10.0.0.0/8"}))
    assert "2 problem(s)" in message
    assert 'database.multiAz: Input should be a valid boolean (got "yes")' in message
    assert "network.vpcCidr: '10.0.0.0/8' must be an IPv4 block from /16 to /20" in message


def test_prod_must_be_highly_available_and_protected() -> None:
    message = _error(
        {
            "environment": "prod",
            "availabilityZones": ZONES,
            "protect": False,
            "network": {"natGateways": "single"},
            "cache": {"replicas": 0},
        }
    )
    assert "protect: set protect: true" in message
    assert "network.natGateways: set network.natGateways: perAz" in message
    assert "cache.replicas: set cache.replicas to 1 or more" in message


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"availabilityZones": ["eu-west-1a", "us-east-1b", "eu-west-1c"]}, "three different zones of one region"),
        ({"cluster": {"publicAccessCidrs": ["0.0.0.0/0"]}}, "opens the API to the internet"),
        ({"cluster": {"systemNodes": {"minSize": 5, "maxSize": 2}}}, "minSize (5) is above maxSize (2)"),
        (
            {"services": {"featureServer": {"minReplicas": 4, "maxReplicas": 2}}},
            "services.featureServer: minReplicas (4) is above maxReplicas (2); raise maxReplicas",
        ),
        ({"alerts": {"emails": ["oncall"]}}, "'oncall' is not an email address"),
        ({"environment": "qa"}, "environment: Input should be 'dev', 'staging' or 'prod'"),
        # Validate sizes the SLO rules with a runbook base this long at most.
        (
            {"alerts": {"runbookBaseUrl": "https://" + "r" * 249}},
            "alerts.runbookBaseUrl: String should have at most 256",
        ),
    ],
)
def test_values_are_checked_in_the_users_words(values: dict[str, Any], expected: str) -> None:
    assert expected in _error(_config(**values))


def _models(model: type[BaseModel]) -> list[type[BaseModel]]:
    found = [model]
    for field in model.model_fields.values():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            found += _models(field.annotation)
    return found


def test_every_option_is_documented() -> None:
    undocumented = [
        f"{model.__name__}.{name}"
        for model in _models(StackConfig)
        for name, field in model.model_fields.items()
        if not field.description
        and not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel))
    ]
    assert undocumented == []


def test_the_program_reads_the_platform_object_from_the_stack_config() -> None:
    import json

    import pulumi

    from infra.program import stack_config_from_pulumi

    values = {"environment": "staging", "availabilityZones": ZONES, "cache": {"replicas": 1}}
    pulumi.runtime.set_all_config({"mlplat:platform": json.dumps(values)})
    try:
        config = stack_config_from_pulumi()
    finally:
        pulumi.runtime.set_all_config({})
    assert (config.environment, config.cache.replicas, config.protect) == ("staging", 1, True)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            {"network": {"flowLogRetentionDays": 10}},
            "network.flowLogRetentionDays: CloudWatch Logs keeps logs for one of",
        ),
        ({"cluster": {"logRetentionDays": 100}}, "(nearest: 90 or 120)"),
        ({"cluster": {"kubernetesVersion": "1.29"}}, "cluster.kubernetesVersion: EKS does not offer Kubernetes '1.29'"),
        (
            {"cluster": {"kubernetesVersion": "1.34"}},
            "addons.kubeProxy: kube-proxy v1.33.3-eksbuild.6 is not for Kubernetes 1.34",
        ),
        (
            {"cluster": {"addons": {"cloudwatchObservability": "v6.0.1-eksbuild.1"}}},
            "addons.cloudwatchObservability: v6.0.1-eksbuild.1 can publish OTel Container Insights metrics",
        ),
        ({"cluster": {"systemNodes": {"instanceTypes": ["m7g.large"]}}}, "AWS Graviton (arm64)"),
        ({"cluster": {"systemNodes": {"instanceTypes": ["a1.large"]}}}, "AWS Graviton (arm64)"),
        (
            {"cluster": {"servingNodes": {"instanceTypes": ["c7i.xlarge", "g5.xlarge"]}}},
            "['g5.xlarge'] are accelerated",
        ),
        ({"cluster": {"servingNodes": {"instanceTypes": ["inf2.xlarge"]}}}, "no drivers for their accelerators"),
        ({"cluster": {"servingNodes": {"instanceTypes": []}}}, "cluster.servingNodes.instanceTypes"),
        ({"cluster": {"systemNodes": {"diskGb": 8}}}, "cluster.systemNodes.diskGb"),
        ({"database": {"instanceClass": "db.t2.micro"}}, "database.instanceClass: RDS for MySQL does not run on"),
        ({"database": {"engineVersion": "5.7.44"}}, "database.engineVersion: '5.7.44' is not an RDS for MySQL version"),
        ({"database": {"engineVersion": "8.4.6"}}, "'8.4.6' pins a minor version, which RDS upgrades by itself"),
        (
            {"database": {"instanceClass": "db.t4g.micro", "performanceInsights": True}},
            "RDS for MySQL has no Performance Insights on db.t4g.micro",
        ),
        (
            {"database": {"allocatedStorageGb": 100, "maxAllocatedStorageGb": 105}},
            "raise it to 110 or more",
        ),
        ({"database": {"backupRetentionDays": 36}}, "database.backupRetentionDays"),
        ({"database": {"allocatedStorageGb": 10}}, "database.allocatedStorageGb"),
        ({"cache": {"nodeType": "cache.t2.micro"}}, "cache.nodeType: ElastiCache for Valkey"),
        ({"cache": {"engineVersion": "7.0"}}, "cache.engineVersion: ElastiCache has no Valkey '7.0'"),
        ({"cache": {"snapshotRetentionDays": 36}}, "cache.snapshotRetentionDays"),
        ({"batch": {"idleStopMinutes": 20000}}, "batch.idleStopMinutes"),
        ({"decisionLog": {"streamRetentionHours": 10}}, "decisionLog.streamRetentionHours"),
        ({"decisionLog": {"objectLockDays": 40000}}, "decisionLog.objectLockDays"),
        ({"availabilityZones": ["euw1-az1", "euw1-az2", "euw1-az3"]}, "are not availability zone names"),
        ({"services": {"featureServer": {"memory": "512MB"}}}, "services.featureServer.memory"),
        ({"services": {"featureServer": {"cpu": "half"}}}, "services.featureServer.cpu"),
    ],
)
def test_values_aws_would_refuse_fail_at_parse_time_naming_the_key(values: dict[str, Any], expected: str) -> None:
    assert expected in _error(_config(**values))


def test_the_database_defaults_to_mysql_8_4_and_derives_its_family() -> None:
    database = parse_stack_config(_config()).database
    assert (database.engine_version, database.parameter_group_family) == ("8.4", "mysql8.4")
    older = parse_stack_config(_config(database={"engineVersion": "8.0"})).database
    assert older.parameter_group_family == "mysql8.0"


@pytest.mark.parametrize(
    ("database", "enabled"),
    [
        ({"instanceClass": "db.t4g.micro"}, False),
        ({"instanceClass": "db.t4g.medium"}, True),
        ({"instanceClass": "db.m7g.large", "performanceInsights": False}, False),
    ],
)
def test_performance_insights_is_on_wherever_the_class_supports_it(database: dict[str, Any], enabled: bool) -> None:
    assert parse_stack_config(_config(database=database)).database.performance_insights_enabled is enabled


@pytest.mark.parametrize("version", ["v4.4.0-eksbuild.1", "v5.9.9-eksbuild.3", "v6.0.0-eksbuild.2"])
def test_container_insights_builds_that_publish_the_classic_node_metrics_are_accepted(version: str) -> None:
    config = parse_stack_config(_config(cluster={"addons": {"cloudwatchObservability": version}}))
    assert config.cluster.addons.cloudwatch_observability == version


def test_the_program_refuses_a_provider_region_other_than_the_zones() -> None:
    import json

    import pulumi

    from infra.program import stack_config_from_pulumi

    values = {"environment": "staging", "availabilityZones": ZONES}
    pulumi.runtime.set_all_config({"mlplat:platform": json.dumps(values), "aws:region": "us-east-1"})
    try:
        with pytest.raises(
            StackConfigError, match="aws:region is 'us-east-1' but availabilityZones are in 'eu-west-1'"
        ):
            stack_config_from_pulumi()
    finally:
        pulumi.runtime.set_all_config({})


@pytest.mark.parametrize(("region", "refused"), [("eu-west-1", False), ("eu-central-1", True), (None, False)])
def test_a_stack_file_deploys_to_its_zones_region(tmp_path: Path, region: str | None, refused: bool) -> None:
    stack: dict[str, Any] = {CONFIG_KEY: {"environment": "dev", "availabilityZones": ZONES, "protect": False}}
    if region is not None:
        stack["aws:region"] = region
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump({"config": stack}), encoding="utf-8")
    if refused:
        with pytest.raises(StackConfigError, match="set aws:region: eu-west-1"):
            load_stack_file(path)
    else:
        assert load_stack_file(path).region == "eu-west-1"
