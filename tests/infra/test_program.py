"""The rendered stacks: resources present and wired, prod invariants, dev cheaper, tags, secrets."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from infra.rendering import Captured, Rendered, plain_strings

SG_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
STATEFUL = (
    "aws:rds/instance:Instance",
    "aws:elasticache/replicationGroup:ReplicationGroup",
    "aws:s3/bucket:Bucket",
    "aws:kms/key:Key",
    "aws:eks/cluster:Cluster",
)


def _statements(policy: Captured) -> list[dict[str, object]]:
    return list(json.loads(policy.plain["policy"])["Statement"])


def _ingress_sources(rendered: Rendered, group_name: str) -> dict[str, object]:
    """Each ingress rule of a security group: rule name -> what it admits."""
    group_id = f"{group_name}-id"
    return {
        rule.name: rule.plain.get("referencedSecurityGroupId") or rule.plain.get("cidrIpv4")
        for rule in rendered.of_type(SG_INGRESS)
        if rule.plain["securityGroupId"] == group_id
    }


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_database_and_the_cache_admit_only_the_nodes_and_the_batch_jobs(
    stacks: dict[str, Rendered], stack: str
) -> None:
    rendered = stacks[stack]
    allowed = {f"mlplat-{stack}-cluster-nodes-sg-id", f"mlplat-{stack}-batch-sg-id"}
    for store, port in ((f"mlplat-{stack}-registry", 3306), (f"mlplat-{stack}-online", 6379)):
        sources = _ingress_sources(rendered, f"{store}-sg")
        assert set(sources.values()) == allowed, sources
        rules = [r for r in rendered.of_type(SG_INGRESS) if r.name.startswith(f"{store}-from-")]
        assert all(r.plain["fromPort"] == r.plain["toPort"] == port for r in rules)
    instance = rendered.one("aws:rds/instance:Instance", f"mlplat-{stack}-registry-mysql").plain
    assert instance["vpcSecurityGroupIds"] == [f"mlplat-{stack}-registry-sg-id"]
    assert instance["publiclyAccessible"] is False


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_each_model_role_reads_only_its_prefix_and_puts_only_to_the_decision_stream(
    stacks: dict[str, Rendered], stack: str
) -> None:
    rendered = stacks[stack]
    artifacts = f"arn:aws:s3:eu-west-1:123456789012:mlplat-{stack}-artifacts-bucket"
    stream = f"arn:aws:kinesis:eu-west-1:123456789012:mlplat-{stack}-decisions-stream"
    for model in ("default_risk", "fraud"):
        prefix = f"mlplat-{stack}-model-{model.replace('_', '-')}"
        read = _statements(rendered.one("aws:iam/rolePolicy:RolePolicy", f"{prefix}-read-artifacts"))
        assert read[0]["Resource"] == f"{artifacts}/{model}/*"
        assert read[1]["Condition"] == {"StringLike": {"s3:prefix": [f"{model}/*"]}}
        put = _statements(rendered.one("aws:iam/rolePolicy:RolePolicy", f"{prefix}-put-decisions"))
        assert put[0] == {"Effect": "Allow", "Action": ["kinesis:PutRecord", "kinesis:PutRecords"], "Resource": stream}
        association = rendered.one("aws:eks/podIdentityAssociation:PodIdentityAssociation", f"{prefix}-pod-identity")
        assert association.plain["namespace"] == "mlplat"
        assert association.plain["serviceAccount"] == f"model-{model.replace('_', '-')}"
        assert association.plain["roleArn"].endswith(f"{prefix}-role")
        trust = json.loads(rendered.one("aws:iam/role:Role", f"{prefix}-role").plain["assumeRolePolicy"])
        assert trust["Statement"][0]["Principal"] == {"Service": "pods.eks.amazonaws.com"}


def test_each_model_alarms_on_its_latency_objective(stacks: dict[str, Rendered]) -> None:
    alarm = stacks["prod"].one("aws:cloudwatch/metricAlarm:MetricAlarm", "mlplat-prod-model-fraud-latency-p99").plain
    assert (alarm["namespace"], alarm["metricName"], alarm["dimensions"]) == (
        "mlplat/ModelServer",
        "DecisionLatencyP99",
        {"Model": "fraud"},
    )
    assert alarm["threshold"] == 30  # fraud's serving.latencySloMs
    assert alarm["alarmActions"] == ["arn:aws:sns:eu-west-1:123456789012:mlplat-prod-alerts-alerts"]


def test_prod_is_highly_available_and_protected(stacks: dict[str, Rendered]) -> None:
    prod = stacks["prod"]
    db = prod.one("aws:rds/instance:Instance", "mlplat-prod-registry-mysql").plain
    assert (db["multiAz"], db["deletionProtection"], db["skipFinalSnapshot"]) == (True, True, False)
    assert re.fullmatch(r"mlplat-prod-registry-final-[0-9a-f]{8}", db["finalSnapshotIdentifier"])
    assert db["manageMasterUserPassword"] is True
    assert "password" not in db
    cache = prod.one("aws:elasticache/replicationGroup:ReplicationGroup", "mlplat-prod-online-valkey").plain
    assert (cache["automaticFailoverEnabled"], cache["multiAzEnabled"], cache["numCacheClusters"]) == (True, True, 3)
    assert (cache["atRestEncryptionEnabled"], cache["transitEncryptionEnabled"]) == (True, True)
    eks = prod.one("aws:eks/cluster:Cluster", "mlplat-prod-cluster-eks").plain
    assert eks["vpcConfig"]["endpointPublicAccess"] is False
    assert eks["vpcConfig"]["endpointPrivateAccess"] is True
    assert eks["encryptionConfig"]["resources"] == ["secrets"]
    assert "audit" in eks["enabledClusterLogTypes"]
    unprotected = [r.name for t in STATEFUL for r in prod.of_type(t) if not r.protect]
    assert unprotected == []


def test_dev_is_cheaper_and_unprotected(stacks: dict[str, Rendered]) -> None:
    dev, prod = stacks["dev"], stacks["prod"]
    nat = "aws:ec2/natGateway:NatGateway"
    assert (len(dev.of_type(nat)), len(prod.of_type(nat))) == (1, 3)
    # Every private route table of dev goes through the one NAT.
    routes = {
        t.plain["routes"][0]["natGatewayId"]
        for t in dev.of_type("aws:ec2/routeTable:RouteTable")
        if "private" in t.name
    }
    assert routes == {"mlplat-dev-nat-eu-west-1a-id"}
    db = {s: stacks[s].one("aws:rds/instance:Instance", f"mlplat-{s}-registry-mysql").plain for s in ("dev", "prod")}
    assert (db["dev"]["instanceClass"], db["dev"]["multiAz"]) == ("db.t4g.micro", False)
    assert db["prod"]["instanceClass"] == "db.m7g.large"
    caches = {
        s: stacks[s].one("aws:elasticache/replicationGroup:ReplicationGroup", f"mlplat-{s}-online-valkey").plain
        for s in ("dev", "prod")
    }
    assert (caches["dev"]["numCacheClusters"], caches["dev"]["nodeType"]) == (1, "cache.t4g.micro")
    serving = {
        s: stacks[s].one("aws:eks/nodeGroup:NodeGroup", f"mlplat-{s}-cluster-serving").plain for s in ("dev", "prod")
    }
    assert serving["dev"]["scalingConfig"]["maxSize"] < serving["prod"]["scalingConfig"]["maxSize"]
    assert not any(r.protect for r in dev.resources)


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_taggable_resource_is_tagged(stacks: dict[str, Rendered], stack: str) -> None:
    untagged = [
        r.name
        for r in stacks[stack].resources
        if r.taggable
        and not {("environment", stack), ("managed-by", "mlplat")} <= set((r.plain.get("tags") or {}).items())
    ]
    assert untagged == []
    owner = stacks[stack].one("aws:iam/role:Role", f"mlplat-{stack}-model-fraud-role").plain["tags"]
    assert owner["owner"] == "fraud@bnpl.example"
    assert owner["mlplat-spec"] == "Model/fraud"


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_no_secret_appears_in_plain_text_in_any_input_or_output(stacks: dict[str, Rendered], stack: str) -> None:
    rendered = stacks[stack]
    assert rendered.secret_values, "the mocks generated no secret: the test would prove nothing"
    exposed = [
        (r.type, r.name)
        for r in rendered.resources
        for text in plain_strings(r.inputs)
        for secret in rendered.secret_values
        if secret in text
    ]
    assert exposed == []
    outputs = json.dumps(rendered.outputs, default=str)
    assert not any(secret in outputs for secret in rendered.secret_values)
    # The token does reach the cache and Secrets Manager, marked secret.
    cache = rendered.one("aws:elasticache/replicationGroup:ReplicationGroup", f"mlplat-{stack}-online-valkey")
    assert cache.plain["authToken"] in rendered.secret_values


def test_outputs_give_the_services_what_they_need(stacks: dict[str, Rendered]) -> None:
    outputs = stacks["prod"].outputs
    assert outputs["clusterName"] == "mlplat-prod"
    assert outputs["clusterEndpoint"].startswith("https://")
    assert outputs["nodeSecurityGroupId"] == "mlplat-prod-cluster-nodes-sg-id"
    assert set(outputs["modelRoleArns"]) == {"default_risk", "fraud"}
    assert outputs["modelServiceAccounts"]["default_risk"] == "model-default-risk"
    assert outputs["buckets"]["artifacts"] == "mlplat-prod-artifacts-123456789012-eu-west-1"


def test_each_scheduled_view_starts_its_emr_job_at_its_rate(stacks: dict[str, Rendered]) -> None:
    prod = stacks["prod"]
    schedule = prod.one(
        "aws:scheduler/schedule:Schedule", "mlplat-prod-materialize-application-velocity-schedule"
    ).plain
    assert schedule["scheduleExpression"] == "rate(15 minutes)"
    assert schedule["target"]["arn"] == "arn:aws:scheduler:::aws-sdk:emrserverless:startJobRun"
    request = json.loads(schedule["target"]["input"])
    assert request["ApplicationId"] == "mlplat-prod-batch-spark-id"
    assert "--view" in request["JobDriver"]["SparkSubmit"]["EntryPointArguments"]
    start = _statements(prod.one("aws:iam/rolePolicy:RolePolicy", "mlplat-prod-batch-scheduler-start-jobs"))
    assert start[0]["Action"] == "emr-serverless:StartJobRun"
    assert start[1]["Action"] == "iam:PassRole"
    assert start[1]["Resource"].endswith("mlplat-prod-batch-job-role")
    app = prod.one("aws:emrserverless/application:Application", "mlplat-prod-batch-spark").plain
    assert app["releaseLabel"] == "emr-7.9.0"


def test_data_buckets_use_the_data_key_and_only_the_access_log_target_uses_sse_s3(stacks: dict[str, Rendered]) -> None:
    prod = stacks["prod"]
    algorithms = {
        r.name: r.plain["rules"][0]["applyServerSideEncryptionByDefault"]
        for r in prod.of_type("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    }
    assert algorithms.pop("mlplat-prod-logs-encryption") == {"sseAlgorithm": "AES256"}
    assert {a["kmsMasterKeyId"] for a in algorithms.values()} == {
        "arn:aws:kms:eu-west-1:123456789012:mlplat-prod-data-key-key"
    }
    logged = {r.plain["bucket"] for r in prod.of_type("aws:s3/bucketLogging:BucketLogging")}
    assert logged == {f"mlplat-prod-{b}-bucket-id" for b in ("offline", "artifacts", "decision-archive")}
    delivery = _statements(prod.one("aws:s3/bucketPolicy:BucketPolicy", "mlplat-prod-logs-policy"))[1]
    assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert delivery["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    lock = prod.one(
        "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", "mlplat-prod-decision-archive-object-lock"
    )
    assert lock.plain["rule"]["defaultRetention"] == {"mode": "COMPLIANCE", "days": 2555}


POLICY_INPUTS = {
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/role:Role": "assumeRolePolicy",
    "aws:s3/bucketPolicy:BucketPolicy": "policy",
    "aws:kms/key:Key": "policy",
}


def _strings(value: object) -> bool:
    return (isinstance(value, str) and value != "") or (
        isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)
    )


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_policy_document_is_complete_and_never_grants_everything(stacks: dict[str, Rendered], stack: str) -> None:
    problems = []
    for type_, prop in POLICY_INPUTS.items():
        for resource in stacks[stack].of_type(type_):
            for statement in json.loads(resource.plain[prop])["Statement"]:
                target = statement.get("Resource", statement.get("Principal"))
                if not (_strings(target) or isinstance(target, dict)):
                    problems.append((resource.name, statement))
                if type_ == "aws:iam/rolePolicy:RolePolicy" and (
                    "*" in str(statement["Action"]) or (target == "*" and not _scoped_without_arns(statement))
                ):
                    problems.append((resource.name, statement))
    assert problems == []


def _scoped_without_arns(statement: dict[str, Any]) -> bool:
    """``Resource: "*"`` is fine for calls IAM scopes by no ARN (describes), or when a tag condition scopes it."""
    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
    read_only = all(action.split(":")[1].startswith(("Describe", "Get")) for action in actions)
    tag_scoped = any("aws:ResourceTag/" in key for test in statement.get("Condition", {}).values() for key in test)
    return read_only or tag_scoped


def test_the_network_keeps_workloads_private_and_logged(stacks: dict[str, Rendered]) -> None:
    prod = stacks["prod"]
    subnets = prod.of_type("aws:ec2/subnet:Subnet")
    assert {s.plain["availabilityZone"] for s in subnets} == {"eu-west-1a", "eu-west-1b", "eu-west-1c"}
    assert not any(s.plain["mapPublicIpOnLaunch"] for s in subnets)
    endpoints = {e.plain["serviceName"] for e in prod.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")}
    assert endpoints == {
        f"com.amazonaws.eu-west-1.{service}"
        for service in ("s3", "ecr.api", "ecr.dkr", "sts", "secretsmanager", "logs", "kinesis-streams")
    }
    s3 = {
        e.plain["vpcEndpointType"]: e.plain
        for e in prod.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
        if e.plain["serviceName"].endswith(".s3")
    }
    # The gateway carries the bulk traffic; the pods reach S3 through the interface's own name.
    assert set(s3) == {"Gateway", "Interface"}
    assert s3["Interface"]["privateDnsEnabled"] is False
    assert prod.outputs["s3EndpointUrl"].startswith("https://bucket.vpce-")
    flow = prod.one("aws:ec2/flowLog:FlowLog", "mlplat-prod-flow-log").plain
    assert (flow["trafficType"], flow["vpcId"]) == ("ALL", "mlplat-prod-vpc-id")
    default_sg = prod.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "mlplat-prod-default-sg").plain
    assert "ingress" not in default_sg
    assert "egress" not in default_sg
    eks_subnets = prod.one("aws:eks/cluster:Cluster", "mlplat-prod-cluster-eks").plain["vpcConfig"]["subnetIds"]
    assert all("private" in s for s in eks_subnets)


def test_nodes_require_imdsv2_and_leave_the_desired_size_to_the_autoscaler(stacks: dict[str, Rendered]) -> None:
    prod = stacks["prod"]
    for pool in ("system", "serving"):
        group = prod.one("aws:eks/nodeGroup:NodeGroup", f"mlplat-prod-cluster-{pool}")
        assert group.ignore_changes == ("scalingConfig.desiredSize",)
        template = prod.one("aws:ec2/launchTemplate:LaunchTemplate", f"mlplat-prod-cluster-{pool}-template").plain
        assert template["metadataOptions"]["httpTokens"] == "required"
        assert template["metadataOptions"]["httpPutResponseHopLimit"] == 1
        assert template["blockDeviceMappings"][0]["ebs"]["encrypted"] == "true"
        assert "mlplat-prod-cluster-nodes-sg-id" in template["vpcSecurityGroupIds"]
    addons = {a.plain["addonName"]: a.plain["addonVersion"] for a in prod.of_type("aws:eks/addon:Addon")}
    assert set(addons) == {
        "vpc-cni",
        "coredns",
        "kube-proxy",
        "eks-pod-identity-agent",
        "amazon-cloudwatch-observability",
        "metrics-server",
    }
    assert all(version.startswith("v") for version in addons.values())


def test_the_feature_server_role_reads_only_the_online_store_token(stacks: dict[str, Rendered]) -> None:
    prod = stacks["prod"]
    read = _statements(prod.one("aws:iam/rolePolicy:RolePolicy", "mlplat-prod-feature-server-read-auth-token"))
    assert read[0] == {
        "Effect": "Allow",
        "Action": "secretsmanager:GetSecretValue",
        "Resource": ["arn:aws:secretsmanager:eu-west-1:123456789012:mlplat-prod-online-auth-secret"],
    }
    binding = prod.one(
        "aws:eks/podIdentityAssociation:PodIdentityAssociation", "mlplat-prod-feature-server-pod-identity"
    )
    assert (binding.plain["namespace"], binding.plain["serviceAccount"]) == ("mlplat", "feature-server")
    assert prod.outputs["featureServerRoleArn"].endswith("mlplat-prod-feature-server-role")
