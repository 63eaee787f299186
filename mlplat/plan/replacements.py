"""Which input changes make a provider replace a resource, for every type the program creates.

A plan that calls a replacement an update hides the expensive part of a change: a new
node group, database or cache, created beside the old one (or after deleting it). This
table is the providers' own semantics, not a guess:

* ``aws:*`` — pulumi-aws bridges the Terraform AWS provider, whose schema marks these
  attributes ``ForceNew`` (``internal/service/<service>/<resource>.go`` in
  hashicorp/terraform-provider-aws; Pulumi names them in camelCase).
* ``kubernetes:*`` — pulumi-kubernetes' ``forceNewProperties``
  (``provider/pkg/provider/diff.go``): ``metadata.name``/``namespace`` of every object, a
  workload's selector, a Service's ``clusterIP``; a ConfigMap's ``data`` too, because the
  provider treats ConfigMaps as immutable unless ``enableConfigMapMutable`` is set (it is
  not). Named Kubernetes objects are deleted before their replacement is created, unless
  the replacement has another name (content-named ConfigMaps): then it is created first.
* ``random:*`` — every input of pulumi-random's resources forces a new value.
* ``pulumi:providers:kubernetes`` — a changed ``kubeconfig`` points the provider at
  another cluster: every object it manages is replaced.

``tests/infra/test_replacements.py`` fails when the program creates a type missing here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Replacement:
    """The inputs (paths, prefixes match) whose change replaces a resource of one type."""

    force_new: frozenset[str]
    name: str | None = None
    """The input holding the resource's fixed physical name, if the program sets one."""
    stateful: bool = False
    """Whether the resource holds data a replacement or deletion loses."""
    delete_first: bool = False
    """Whether the provider deletes the old resource before creating the new one."""


def _r(*paths: str, name: str | None = None, stateful: bool = False, delete_first: bool = False) -> Replacement:
    return Replacement(frozenset(paths), name, stateful, delete_first)


_K8S_NAMED = ("metadata.name", "metadata.namespace")

REPLACEMENTS: Mapping[str, Replacement] = {
    # --- networking (internal/service/ec2, internal/service/vpc) ---------------------------
    "aws:ec2/vpc:Vpc": _r("cidrBlock", "instanceTenancy", "ipv4IpamPoolId"),
    "aws:ec2/subnet:Subnet": _r("vpcId", "cidrBlock", "availabilityZone", "availabilityZoneId", "outpostArn"),
    "aws:ec2/internetGateway:InternetGateway": _r(),
    "aws:ec2/eip:Eip": _r("domain", "publicIpv4Pool", "networkBorderGroup", "address", "customerOwnedIpv4Pool"),
    "aws:ec2/natGateway:NatGateway": _r("allocationId", "subnetId", "connectivityType", "privateIp"),
    "aws:ec2/routeTable:RouteTable": _r("vpcId"),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": _r("subnetId", "gatewayId"),
    "aws:ec2/securityGroup:SecurityGroup": _r("name", "namePrefix", "description", "vpcId", name="name"),
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": _r("vpcId"),
    "aws:ec2/vpcEndpoint:VpcEndpoint": _r("vpcId", "serviceName", "vpcEndpointType", "serviceRegion"),
    "aws:ec2/flowLog:FlowLog": _r(
        "vpcId",
        "subnetId",
        "eniId",
        "trafficType",
        "logDestination",
        "logDestinationType",
        "iamRoleArn",
        "logFormat",
        "maxAggregationInterval",
        "destinationOptions",
    ),
    "aws:ec2/launchTemplate:LaunchTemplate": _r("name", "namePrefix", name="name"),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": _r("securityGroupId"),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": _r("securityGroupId"),
    # --- cluster (internal/service/eks) ----------------------------------------------------
    "aws:eks/cluster:Cluster": _r(
        "name",
        "roleArn",
        "encryptionConfig.provider",
        "encryptionConfig.resources",
        "kubernetesNetworkConfig",
        "vpcConfig.securityGroupIds",
        "outpostConfig",
        "bootstrapSelfManagedAddons",
        "accessConfig.bootstrapClusterCreatorAdminPermissions",
        name="name",
        stateful=True,
    ),
    # Checked against internal/service/eks/node_group.go.
    "aws:eks/nodeGroup:NodeGroup": _r(
        "amiType",
        "capacityType",
        "clusterName",
        "diskSize",
        "instanceTypes",
        "launchTemplate.id",
        "launchTemplate.name",
        "nodeGroupName",
        "nodeGroupNamePrefix",
        "nodeRoleArn",
        "remoteAccess",
        "subnetIds",
        name="nodeGroupName",
    ),
    "aws:eks/addon:Addon": _r("addonName", "clusterName", name="addonName"),
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": _r("clusterName", "namespace", "serviceAccount"),
    # UpdateAccessEntry changes only the groups and the user name; the principal and the type are fixed.
    "aws:eks/accessEntry:AccessEntry": _r("clusterName", "principalArn", "type"),
    # An association has no update API: every input makes a new one.
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": _r(
        "clusterName", "policyArn", "principalArn", "accessScope"
    ),
    # --- stores (internal/service/rds, internal/service/elasticache) ------------------------
    # Checked against internal/service/rds/instance.go; engineVersion and instanceClass update in place.
    "aws:rds/instance:Instance": _r(
        "identifier",
        "identifierPrefix",
        "engine",
        "availabilityZone",
        "dbName",
        "characterSetName",
        "ncharCharacterSetName",
        "kmsKeyId",
        "storageEncrypted",
        "username",
        "timezone",
        "snapshotIdentifier",
        "restoreToPointInTime",
        "s3Import",
        "customIamInstanceProfile",
        name="identifier",
        stateful=True,
    ),
    "aws:rds/parameterGroup:ParameterGroup": _r("name", "namePrefix", "family", "description", name="name"),
    "aws:rds/subnetGroup:SubnetGroup": _r("name", "namePrefix", name="name"),
    # Checked against internal/service/elasticache/replication_group.go: besides these, its
    # CustomizeDiff replaces on an engine or engine-version downgrade.
    "aws:elasticache/replicationGroup:ReplicationGroup": _r(
        "replicationGroupId",
        "atRestEncryptionEnabled",
        "kmsKeyId",
        "subnetGroupName",
        "port",
        "securityGroupNames",
        "snapshotArns",
        "snapshotName",
        "dataTieringEnabled",
        "networkType",
        "globalReplicationGroupId",
        name="replicationGroupId",
        stateful=True,
    ),
    "aws:elasticache/subnetGroup:SubnetGroup": _r("name", name="name"),
    # --- storage, keys, secrets (internal/service/s3, kms, secretsmanager) ------------------
    "aws:s3/bucket:Bucket": _r("bucket", "bucketPrefix", "objectLockEnabled", name="bucket", stateful=True),
    "aws:s3/bucketObjectv2:BucketObjectv2": _r("bucket", "key"),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": _r("bucket", "expectedBucketOwner"),
    "aws:s3/bucketLogging:BucketLogging": _r("bucket", "expectedBucketOwner"),
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": _r("bucket", "expectedBucketOwner"),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": _r("bucket"),
    "aws:s3/bucketPolicy:BucketPolicy": _r("bucket"),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _r("bucket"),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": _r(
        "bucket", "expectedBucketOwner"
    ),
    "aws:s3/bucketVersioning:BucketVersioning": _r("bucket", "expectedBucketOwner", "mfa"),
    "aws:kms/key:Key": _r(
        "customerMasterKeySpec", "keyUsage", "multiRegion", "xksKeyId", "customKeyStoreId", stateful=True
    ),
    "aws:kms/alias:Alias": _r("name", "namePrefix", name="name"),
    "aws:secretsmanager/secret:Secret": _r("name", "namePrefix", name="name", stateful=True),
    "aws:secretsmanager/secretVersion:SecretVersion": _r("secretId", "secretString", "secretBinary", "versionStages"),
    # --- identity (internal/service/iam) ---------------------------------------------------
    "aws:iam/role:Role": _r("name", "namePrefix", "path", name="name"),
    "aws:iam/rolePolicy:RolePolicy": _r("name", "namePrefix", "role", name="name"),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": _r("role", "policyArn"),
    # --- jobs, images, streams, alerts ----------------------------------------------------
    # UpdateApplication changes the release, architecture and image configuration in place:
    # moving the application onto a new job image is an update, not a new application.
    "aws:emrserverless/application:Application": _r("name", "type", name="name"),
    "aws:scheduler/schedule:Schedule": _r("name", "namePrefix", "groupName", name="name"),
    "aws:scheduler/scheduleGroup:ScheduleGroup": _r("name", "namePrefix", name="name"),
    "aws:ecr/repository:Repository": _r("name", "encryptionConfigurations", name="name", stateful=True),
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": _r("repository"),
    "aws:ecr/repositoryPolicy:RepositoryPolicy": _r("repository"),  # SetRepositoryPolicy replaces the text in place
    "aws:kinesis/stream:Stream": _r("name", name="name", stateful=True),
    "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream": _r(
        "name", "destination", "kinesisSourceConfiguration", "mskSourceConfiguration", name="name"
    ),
    "aws:cloudwatch/logGroup:LogGroup": _r("name", "namePrefix", "logGroupClass", name="name", stateful=True),
    "aws:cloudwatch/metricAlarm:MetricAlarm": _r("name", name="name"),
    "aws:sns/topic:Topic": _r("name", "namePrefix", "fifoTopic", name="name"),
    "aws:sns/topicPolicy:TopicPolicy": _r("arn"),
    # --- metrics (internal/service/amp): Managed Prometheus ----------------------------------
    "aws:amp/workspace:Workspace": _r("kmsKeyArn", stateful=True),
    "aws:amp/ruleGroupNamespace:RuleGroupNamespace": _r("name", "workspaceId", name="name"),
    "aws:amp/alertManagerDefinition:AlertManagerDefinition": _r("workspaceId"),
    # UpdateScraper changes the scrape configuration and the role configuration in place.
    "aws:amp/scraper:Scraper": _r("alias", "destination", "source"),
    "aws:sns/topicSubscription:TopicSubscription": _r("endpoint", "protocol", "topic", "subscriptionRoleArn"),
    # --- random (pulumi-random: every input) ----------------------------------------------
    "random:index/randomPassword:RandomPassword": _r(
        "length",
        "special",
        "overrideSpecial",
        "upper",
        "lower",
        "numeric",
        "minLower",
        "minUpper",
        "minNumeric",
        "minSpecial",
        "keepers",
        stateful=True,
    ),
    "random:index/randomId:RandomId": _r("byteLength", "keepers", "prefix"),
    # --- kubernetes (pulumi-kubernetes provider/pkg/provider/diff.go) ---------------------
    # A Helm release is named and namespaced like any object; its values and chart version upgrade it.
    "kubernetes:helm.sh/v3:Release": _r("name", "namespace", name="name", delete_first=True),
    "pulumi:providers:kubernetes": _r("kubeconfig", "context", "cluster"),
    "kubernetes:core/v1:Namespace": _r(*_K8S_NAMED, name="metadata.name", delete_first=True),
    "kubernetes:core/v1:ConfigMap": _r(*_K8S_NAMED, "data", "binaryData", name="metadata.name", delete_first=True),
    "kubernetes:core/v1:ServiceAccount": _r(*_K8S_NAMED, name="metadata.name", delete_first=True),
    "kubernetes:core/v1:Service": _r(*_K8S_NAMED, "spec.clusterIP", name="metadata.name", delete_first=True),
    "kubernetes:apps/v1:Deployment": _r(*_K8S_NAMED, "spec.selector", name="metadata.name", delete_first=True),
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler": _r(*_K8S_NAMED, name="metadata.name", delete_first=True),
    "kubernetes:policy/v1:PodDisruptionBudget": _r(*_K8S_NAMED, name="metadata.name", delete_first=True),
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": _r(*_K8S_NAMED, name="metadata.name", delete_first=True),
}


def rule(type_: str) -> Replacement | None:
    """The replacement rule of ``type_``; None for a type the table lacks."""
    return REPLACEMENTS.get(type_)


def forcing(type_: str, paths: Iterable[str]) -> tuple[str, ...]:
    """The changed ``paths`` that make the provider replace a resource of ``type_``."""
    found = rule(type_)
    if found is None:
        return ()
    return tuple(path for path in paths if any(_under(path, prefix) for prefix in found.force_new))


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith((f"{prefix}.", f"{prefix}["))


def missing_types(types: Iterable[str]) -> list[str]:
    """The resource types of ``types`` the table has no rule for (component types excluded)."""
    return sorted({t for t in types if not t.startswith("mlplat:") and t not in REPLACEMENTS})
