"""The metrics path in AWS: Managed Prometheus scraping the services, running the SLO rules, alerting via SNS.

Amazon Managed Service for Prometheus (AMP) with its managed EKS scraper: no collector to
run or upgrade in the cluster, the scraper lives outside it (one ENI in each of the
network's scraper subnets, on the cluster security group), the workspace evaluates the
same rules ``mlplat up`` runs, and its Alertmanager publishes to the platform's encrypted
alert topic.

* Where the scraper sits (:func:`check_scraper_placement`): subnets in two zones at least
  and at most five subnets and five security groups (AMP API reference, ``EksConfiguration``:
  https://docs.aws.amazon.com/prometheus/latest/APIReference/API_EksConfiguration.html; one
  interface per zone passed: https://docs.aws.amazon.com/cli/v1/reference/amp/create-scraper.html;
  collectors want subnets in two zones and a security group that reaches the targets'
  ports: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/managed-prometheus-collectors-vpc-setup.html).
  Its security group is the EKS cluster security group, which every node also carries
  (the node launch templates): that group admits its own members on every port, so the
  scraper's interfaces reach the pods' metrics port and the private API endpoint. The
  NetworkPolicies then narrow it to the metrics port (:mod:`infra.workloads.manifests`).

* The scraper's cluster access: CreateScraper gives its service-linked role an EKS access
  entry (on clusters with access entries; the role's managed policy may delete exactly that
  entry, https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AmazonPrometheusScraperServiceRolePolicy.html),
  and the program associates the view policy with it, limited to the services' namespace.
* The topic policy lets the account, its CloudWatch alarms and this workspace publish; the
  alert key lets ``aps.amazonaws.com`` use it (:mod:`infra.iam_policies`).
* Rule and Alertmanager errors land in a CloudWatch log group the workspace writes to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import iam_policies
from infra.components.cluster import Cluster
from infra.components.component import Component
from infra.components.keys import EncryptionKey
from infra.components.observability import Observability
from mlplat.operations.alertmanager import amp_definition

#: Namespace-scoped view: lists and watches the pods service discovery needs, nothing else.
VIEW_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
#: The rule namespace holding every SLO rule group (one document, replaced as a whole on change).
RULE_NAMESPACE = "mlplat-slos"
#: CreateScraper's bounds on ``eksConfiguration`` (API_EksConfiguration: 1 to 5 of each) and
#: the zones its subnets must span.
MAX_SCRAPER_SUBNETS = 5
MAX_SCRAPER_SECURITY_GROUPS = 5
MIN_SCRAPER_ZONES = 2


def check_scraper_placement(subnet_zones: Sequence[str], security_groups: int) -> None:
    """Refuse a scraper placement AMP would refuse, naming what to change."""
    problems = []
    if len(set(subnet_zones)) < MIN_SCRAPER_ZONES:
        problems.append(
            f"its subnets are in {sorted(set(subnet_zones))}: give it subnets in {MIN_SCRAPER_ZONES} zones at least"
        )
    if not 1 <= len(subnet_zones) <= MAX_SCRAPER_SUBNETS:
        problems.append(f"{len(subnet_zones)} subnets: CreateScraper takes 1 to {MAX_SCRAPER_SUBNETS}")
    if not 1 <= security_groups <= MAX_SCRAPER_SECURITY_GROUPS:
        problems.append(f"{security_groups} security groups: CreateScraper takes 1 to {MAX_SCRAPER_SECURITY_GROUPS}")
    if problems:
        raise ValueError("the metrics scraper: " + "; ".join(problems))


@dataclass(frozen=True)
class MonitoringArgs:
    """What is scraped, where samples go, which rules run and where alerts go."""

    workspace_alias: str
    cluster: Cluster
    subnet_ids: Sequence[pulumi.Input[str]]
    """Where the scraper's network interfaces go: the network's scraper subnets, one per zone."""
    subnet_zones: Sequence[str]
    """The zone of each of ``subnet_ids``, in the same order (checked: two zones at least)."""
    namespace: str
    """The services' namespace: the only one the scraper may see."""
    scrape_configuration: str
    """Prometheus scrape configuration (:func:`infra.scraping.scrape_configuration`)."""
    rules: str
    """Prometheus rule file (:func:`mlplat.operations.rules.catalog_rules`)."""
    alerts: Observability
    """The alert topic; this component owns its topic policy."""
    account_id: pulumi.Input[str]
    region: str
    logs_key: EncryptionKey
    log_retention_days: int
    tags: Mapping[str, str]


class Monitoring(Component):
    """A Managed Prometheus workspace, its EKS scraper, the SLO rules and the Alertmanager routes."""

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("Monitoring", name, args.tags, opts)
        self._args = args
        self.workspace = self._workspace()
        self.scraper = self._scraper()
        self._cluster_access()
        self.rules = aws.amp.RuleGroupNamespace(
            self.child_name("slo-rules"),
            name=RULE_NAMESPACE,
            workspace_id=self.workspace.id,
            data=args.rules,
            tags=self.tags,
            opts=self.child_opts(),
        )
        topic_policy = self._topic_policy()
        self.alertmanager = aws.amp.AlertManagerDefinition(
            self.child_name("alertmanager"),
            workspace_id=self.workspace.id,
            definition=args.alerts.topic.arn.apply(lambda arn: amp_definition(arn, args.region)),
            opts=self.child_opts(depends_on=[topic_policy]),
        )
        self.register_outputs(
            {"workspaceArn": self.workspace.arn, "prometheusEndpoint": self.workspace.prometheus_endpoint}
        )

    def _workspace(self) -> aws.amp.Workspace:
        args = self._args
        log_group = self.log_group(
            "logs", f"/aws/prometheus/{args.workspace_alias}", args.logs_key.arn, args.log_retention_days
        )
        # No customer-managed key: workspaces created with one cannot take samples from AWS
        # managed collectors (AMP user guide, "Set up managed collectors for Amazon EKS").
        # Samples are still encrypted at rest, with AWS owned keys; they hold request counts
        # and latencies per model and view, no applicant data.
        return aws.amp.Workspace(
            self.child_name("workspace"),
            alias=args.workspace_alias,
            # AMP wants the log group's ARN with the ":*" suffix of its streams.
            logging_configuration={"log_group_arn": log_group.arn.apply(lambda arn: f"{arn}:*")},
            tags=self.tags,
            opts=self.child_opts(),
        )

    def _scraper(self) -> aws.amp.Scraper:
        args = self._args
        cluster = args.cluster.cluster
        # The group every node carries (Cluster.cluster_security_group_id): the ENIs reach the pods' port.
        security_groups = [args.cluster.cluster_security_group_id]
        if len(args.subnet_ids) != len(args.subnet_zones):
            raise ValueError(
                f"{len(args.subnet_ids)} scraper subnets but {len(args.subnet_zones)} zones given for them"
            )
        check_scraper_placement(args.subnet_zones, len(security_groups))
        return aws.amp.Scraper(
            self.child_name("scraper"),
            alias=args.workspace_alias,
            source={
                "eks": {
                    "cluster_arn": cluster.arn,
                    "subnet_ids": args.subnet_ids,
                    "security_group_ids": security_groups,
                }
            },
            destination={"amp": {"workspace_arn": self.workspace.arn}},
            scrape_configuration=args.scrape_configuration,
            tags=self.tags,
            opts=self.child_opts(),
        )

    def _cluster_access(self) -> None:
        # CreateScraper makes the scraper's access entry itself (user aps-collector-user, no
        # access policy) on a cluster with access entries, and removes it with the scraper (its
        # service-linked role may DeleteAccessEntry on exactly that principal). A second
        # CreateAccessEntry for the role would fail with ResourceInUseException, so only the
        # policy is associated, with the role's ARN as the scraper reports it, path included:
        # access entries take IAM ARNs as they are (unlike the aws-auth ConfigMap).
        # https://docs.aws.amazon.com/prometheus/latest/userguide/AMP-collector-how-to.html#AMP-collector-eks-setup
        aws.eks.AccessPolicyAssociation(
            self.child_name("scraper-view"),
            cluster_name=self._args.cluster.cluster.name,
            principal_arn=self.scraper.role_arn,
            policy_arn=VIEW_POLICY,
            access_scope={"type": "namespace", "namespaces": [self._args.namespace]},
            opts=self.child_opts(),
        )

    def _topic_policy(self) -> aws.sns.TopicPolicy:
        args = self._args
        topic = args.alerts.topic
        policy = pulumi.Output.all(topic.arn, args.account_id, self.workspace.arn).apply(
            lambda values: iam_policies.alert_topic_policy(values[0], values[1], values[2])
        )
        return aws.sns.TopicPolicy(
            self.child_name("topic-policy"), arn=topic.arn, policy=policy, opts=self.child_opts()
        )
