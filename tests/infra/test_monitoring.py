"""The metrics path as rendered under mocks: workspace, scraper and its cluster access, rules, routes, topic policy."""

from __future__ import annotations

import json

import pytest
import yaml

from infra.components.monitoring import RULE_NAMESPACE, VIEW_POLICY, check_scraper_placement
from infra.rendering import STACKS, Rendered
from infra.scraping import scrape_configuration
from mlplat.catalog import Catalog
from mlplat.operations.rules import SERVICE_JOBS, catalog_rules

PREFIX = "mlplat-prod-monitoring"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:mlplat-prod-alerts-alerts"


def test_the_scraper_reads_the_services_namespace_into_the_workspace(stacks: dict[str, Rendered]) -> None:
    prod = stacks["prod"]
    workspace = prod.one("aws:amp/workspace:Workspace", f"{PREFIX}-workspace").plain
    assert workspace["alias"] == "mlplat-prod"
    # AWS owned key: a workspace with a customer-managed key cannot take managed-collector samples.
    assert "kmsKeyArn" not in workspace
    assert workspace["loggingConfiguration"]["logGroupArn"].endswith(":*")
    scraper = prod.one("aws:amp/scraper:Scraper", f"{PREFIX}-scraper").plain
    assert len(scraper["source"]["eks"]["subnetIds"]) == 3
    assert scraper["destination"]["amp"]["workspaceArn"].endswith(f"{PREFIX}-workspace")
    config = yaml.safe_load(scraper["scrapeConfiguration"])
    assert {job["job_name"] for job in config["scrape_configs"]} == set(SERVICE_JOBS)
    assert all(job["kubernetes_sd_configs"][0]["namespaces"]["names"] == ["mlplat"] for job in config["scrape_configs"])


def test_the_scraper_may_only_view_the_services_namespace(stacks: dict[str, Rendered]) -> None:
    association = (
        stacks["prod"].one("aws:eks/accessPolicyAssociation:AccessPolicyAssociation", f"{PREFIX}-scraper-view").plain
    )
    # The scraper's own role, path included: the access entry CreateScraper made for it.
    assert association["principalArn"] == (
        "arn:aws:iam::123456789012:role/aws-service-role/scraper.aps.amazonaws.com/"
        f"AWSServiceRoleForAmazonPrometheusScraper_{PREFIX}-scraper"
    )
    assert association["policyArn"] == VIEW_POLICY
    assert association["accessScope"] == {"type": "namespace", "namespaces": ["mlplat"]}


@pytest.mark.parametrize("stack", STACKS)
def test_the_program_does_not_create_the_access_entry_create_scraper_makes(
    stacks: dict[str, Rendered], stack: str
) -> None:
    # A second entry for the scraper's role fails with ResourceInUseException.
    entries = [e.plain["principalArn"] for e in stacks[stack].of_type("aws:eks/accessEntry:AccessEntry")]
    assert entries
    assert not any("AWSServiceRoleForAmazonPrometheusScraper" in arn for arn in entries)


def test_the_rules_are_the_catalogs_and_alerts_route_to_the_topic_by_severity(
    stacks: dict[str, Rendered], example_catalog: Catalog
) -> None:
    prod = stacks["prod"]
    rules = prod.one("aws:amp/ruleGroupNamespace:RuleGroupNamespace", f"{PREFIX}-slo-rules").plain
    assert rules["name"] == RULE_NAMESPACE
    assert rules["data"] == catalog_rules(example_catalog).to_yaml()
    definition = prod.one("aws:amp/alertManagerDefinition:AlertManagerDefinition", f"{PREFIX}-alertmanager").plain
    config = yaml.safe_load(yaml.safe_load(definition["definition"])["alertmanager_config"])
    routes = {route["matchers"][0]: route["receiver"] for route in config["route"]["routes"]}
    assert routes == {'severity="page"': "page", 'severity="ticket"': "ticket"}
    for receiver in config["receivers"]:
        [sns] = receiver["sns_configs"]
        assert (sns["topic_arn"], sns["sigv4"]["region"]) == (TOPIC, "eu-west-1")
        assert sns["attributes"] == {"severity": receiver["name"]}
        assert len(sns["subject"]) < 100


def test_the_topic_admits_the_workspace_and_the_alert_key_admits_prometheus(stacks: dict[str, Rendered]) -> None:
    prod = stacks["prod"]
    policy = json.loads(prod.one("aws:sns/topicPolicy:TopicPolicy", f"{PREFIX}-topic-policy").plain["policy"])
    publishers = {json.dumps(s["Principal"], sort_keys=True): s for s in policy["Statement"]}
    amp = publishers['{"Service": "aps.amazonaws.com"}']
    assert amp["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    assert "aws:SourceArn" in amp["Condition"]["ArnEquals"]
    assert {s["Resource"] for s in policy["Statement"]} == {TOPIC}
    key = json.loads(prod.one("aws:kms/key:Key", "mlplat-prod-alerts-key-key").plain["policy"])
    assert {"Service": "aps.amazonaws.com"} in [s["Principal"] for s in key["Statement"]]


def test_no_cloudwatch_alarm_watches_a_metric_nothing_publishes(stacks: dict[str, Rendered]) -> None:
    # Only AWS namespaces: every one of them is published by the service it names.
    namespaces = {a.plain["namespace"] for a in stacks["prod"].of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert namespaces == {"AWS/RDS", "AWS/ElastiCache", "ContainerInsights", "AWS/EMRServerless"}


def test_scrape_configuration_keeps_only_annotated_pods_of_each_service() -> None:
    config = yaml.safe_load(scrape_configuration("mlplat", "prod"))
    assert config["global"]["external_labels"] == {"environment": "prod"}
    model = next(j for j in config["scrape_configs"] if j["job_name"] == "mlplat-model-server")
    keep = [r for r in model["relabel_configs"] if r.get("action") == "keep"]
    assert [r["regex"] for r in keep] == ["model-server", "true"]


def test_the_scraper_sits_in_the_scraper_subnets_one_per_zone(stacks: dict[str, Rendered]) -> None:
    prod = stacks["prod"]
    scraper = prod.one("aws:amp/scraper:Scraper", f"{PREFIX}-scraper").plain["source"]["eks"]
    subnets = {f"{s.name}-id": s.plain for s in prod.of_type("aws:ec2/subnet:Subnet")}
    placed = [subnets[subnet_id] for subnet_id in scraper["subnetIds"]]
    assert [s["cidrBlock"] for s in placed] == prod.outputs["scraperSubnetCidrs"]
    assert len({s["availabilityZone"] for s in placed}) == 3
    # Nothing else of the platform takes an address there: no node group, cluster or endpoint.
    scraper_ids = set(scraper["subnetIds"])
    for resource in prod.resources:
        if resource.type != "aws:amp/scraper:Scraper":
            assert not scraper_ids & set(map(str, resource.plain.get("subnetIds") or [])), resource.name
    # Their route table has only the VPC's local route: no NAT, no internet.
    table = prod.one("aws:ec2/routeTable:RouteTable", "mlplat-prod-scraper-routes").plain
    assert not table.get("routes")


def test_the_scraper_shares_a_security_group_with_every_node(stacks: dict[str, Rendered]) -> None:
    # The cluster security group admits its members on every port: that is how the scraper's
    # interfaces reach the pods' metrics port through the nodes' interfaces.
    for stack in stacks.values():
        [scraper] = stack.of_type("aws:amp/scraper:Scraper")
        groups = set(scraper.plain["source"]["eks"]["securityGroupIds"])
        templates = stack.of_type("aws:ec2/launchTemplate:LaunchTemplate")
        assert templates
        for template in templates:
            assert groups & set(template.plain["vpcSecurityGroupIds"]), template.name


@pytest.mark.parametrize(
    ("zones", "groups", "problem"),
    [
        (["eu-west-1a"], 1, r"subnets are in \['eu-west-1a'\]: give it subnets in 2 zones at least"),
        (["eu-west-1a", "eu-west-1a"], 1, "in 2 zones at least"),
        ([f"eu-west-1{z}" for z in "abcabc"], 1, "6 subnets: CreateScraper takes 1 to 5"),
        (["eu-west-1a", "eu-west-1b"], 0, "0 security groups: CreateScraper takes 1 to 5"),
        (["eu-west-1a", "eu-west-1b"], 6, "6 security groups"),
    ],
)
def test_a_scraper_placement_amp_refuses_is_refused_first(zones: list[str], groups: int, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        check_scraper_placement(zones, groups)


@pytest.mark.parametrize(("zones", "groups"), [(["eu-west-1a", "eu-west-1b"], 1), (["a1", "b1", "c1", "a1", "b1"], 5)])
def test_a_placement_within_amps_bounds_passes(zones: list[str], groups: int) -> None:
    check_scraper_placement(zones, groups)
