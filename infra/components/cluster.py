"""The EKS cluster: private API, encrypted secrets, audit logs, managed node groups, Pod Identity.

Everything here is AWS: the platform stack creates it. The Kubernetes objects that run on
the cluster (the node autoscaler's chart, the services) belong to the workloads stack
(:mod:`infra.workloads_program`), which reaches the API once this stack is up.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pulumi
import pulumi_aws as aws

from infra import aws_rules, iam_policies, naming
from infra.components.component import Component
from infra.components.keys import EncryptionKey
from infra.components.network import Network
from infra.config import AddonVersions, NodeGroupConfig, StackConfigError
from infra.naming import NODE_POOL_LABEL, SERVING_POOL, SYSTEM_POOL

CONTROL_PLANE_LOGS = ("api", "audit", "authenticator", "controllerManager", "scheduler")
CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
CLUSTER_VIEW_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAdminViewPolicy"
#: The node autoscaler's namespace and service account (bound to its role by Pod Identity).
AUTOSCALER_NAMESPACE = "kube-system"
AUTOSCALER_SERVICE_ACCOUNT = "cluster-autoscaler"
#: VPC CNI settings: its network policy agent enforces NetworkPolicies (off by default).
#: https://docs.aws.amazon.com/eks/latest/userguide/cni-network-policy-configure.html
VPC_CNI_CONFIGURATION = {"enableNetworkPolicy": "true"}
NODE_POLICIES = (
    aws.iam.ManagedPolicy.AMAZON_EKS_WORKER_NODE_POLICY,
    aws.iam.ManagedPolicy.AMAZON_EK_S_CN_I_POLICY,
    aws.iam.ManagedPolicy.AMAZON_EC2_CONTAINER_REGISTRY_READ_ONLY,
)
CLOUDWATCH_AGENT_POLICY = "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"
#: Where the amazon-cloudwatch-observability add-on runs its agent
#: (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/install-CloudWatch-Observability-EKS-addon.html).
CLOUDWATCH_NAMESPACE = "amazon-cloudwatch"
CLOUDWATCH_SERVICE_ACCOUNT = "cloudwatch-agent"
#: Log groups of the observability add-on: its performance events (the source of the Container Insights
#: metrics) and Fluent Bit's container, node-service and host logs.
CONTAINER_INSIGHTS_LOGS = ("performance", "application", "dataplane", "host")


@dataclass(frozen=True)
class ClusterArgs:
    """The cluster's shape."""

    cluster_name: str
    kubernetes_version: str
    network: Network
    secrets_key: EncryptionKey
    """Envelope encryption of Kubernetes secrets."""
    logs_key: EncryptionKey
    system_nodes: NodeGroupConfig
    serving_nodes: NodeGroupConfig
    addons: AddonVersions
    log_retention_days: int
    tags: Mapping[str, str]
    public_access_cidrs: Sequence[str] = ()
    """CIDRs allowed on the public API endpoint (the deploy runners'). Left out: the endpoint is private only."""
    deploy_role_arn: str | None = None
    """The role that deploys; it gets cluster-admin. Left out: the issuer of the session running ``pulumi up``."""
    admin_role_arns: Sequence[str] = ()
    """More roles given cluster-admin. Left out: only the deploy role."""
    viewer_role_arns: Sequence[str] = ()
    """Roles given read-only access (``AmazonEKSAdminViewPolicy``). Left out: none."""
    protect: bool = True
    """EKS deletion protection and Pulumi ``protect`` on the cluster."""


class Cluster(Component):
    """An EKS cluster on raw resources (every child is visible to mocks and to the policy pack)."""

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("Cluster", name, args.tags, opts)
        self._args = args
        self.cluster = self._control_plane()
        self.cluster_name = self.cluster.name
        # The issuer of the cluster's service account tokens; the services verify callers against its keys.
        self.oidc_issuer: pulumi.Output[str] = self.cluster.identities.apply(_oidc_issuer)
        # The range EKS picked for Service cluster IPs (10.100.0.0/16 or 172.20.0.0/16 when none is set:
        # https://docs.aws.amazon.com/eks/latest/APIReference/API_KubernetesNetworkConfigRequest.html).
        self.service_ipv4_cidr: pulumi.Output[str] = self.cluster.kubernetes_network_config.apply(
            lambda network: (network.service_ipv4_cidr or "") if network else ""
        )
        self.node_security_group = self._node_security_group()
        # The EKS-managed group: the control plane's ENIs and every node carry it, and it admits
        # its members on every port. Whatever must reach the pods from outside the cluster (the
        # metrics scraper) joins it; the NetworkPolicies then narrow what it may reach.
        self.cluster_security_group_id: pulumi.Output[str] = self.cluster.vpc_config.cluster_security_group_id
        self.node_role = self._node_role()
        node_groups = [
            self._node_group(SYSTEM_POOL, args.system_nodes),
            self._node_group(SERVING_POOL, args.serving_nodes),
        ]
        self.node_groups = node_groups
        self.node_group_names = [group.node_group_name for group in node_groups]
        self._addons(node_groups)
        self.autoscaler_role = self._autoscaler_identity()
        self._access_entries()
        self.register_outputs({"clusterName": self.cluster.name, "endpoint": self.cluster.endpoint})

    def _control_plane(self) -> aws.eks.Cluster:
        args = self._args
        note = aws_rules.eks_support_note(args.kubernetes_version, datetime.now(UTC).date())
        if note is not None:
            pulumi.log.warn(note, resource=self)
        role = aws.iam.Role(
            self.child_name("cluster-role"),
            assume_role_policy=iam_policies.assume_role("eks.amazonaws.com"),
            tags=self.tags,
            opts=self.child_opts(),
        )
        attachment = aws.iam.RolePolicyAttachment(
            self.child_name("cluster-policy"),
            role=role.name,
            policy_arn=aws.iam.ManagedPolicy.AMAZON_EKS_CLUSTER_POLICY,
            opts=self.child_opts(),
        )
        encryption = aws.iam.RolePolicy(
            self.child_name("cluster-encrypt-secrets"),
            role=role.id,
            policy=args.secrets_key.arn.apply(lambda arn: iam_policies.document(iam_policies.envelope_encryption(arn))),
            opts=self.child_opts(),
        )
        # Created before the cluster so EKS writes into a group with our retention and key.
        log_group = self.log_group(
            "control-plane-logs", f"/aws/eks/{args.cluster_name}/cluster", args.logs_key.arn, args.log_retention_days
        )
        return aws.eks.Cluster(
            self.child_name("eks"),
            name=args.cluster_name,
            version=args.kubernetes_version,
            role_arn=role.arn,
            vpc_config={
                "subnet_ids": args.network.private_subnet_ids,
                "endpoint_private_access": True,
                "endpoint_public_access": bool(args.public_access_cidrs),
                "public_access_cidrs": list(args.public_access_cidrs) or None,
            },
            encryption_config={"provider": {"key_arn": args.secrets_key.arn}, "resources": ["secrets"]},
            enabled_cluster_log_types=list(CONTROL_PLANE_LOGS),
            # Access entries only (no aws-auth ConfigMap). The creator's implicit entry is off:
            # the deploy role gets an explicit one (see _access_entries), as in
            # terraform-aws-modules/eks, so listing it twice cannot fail with ResourceInUse and
            # a later deploy by another identity does not lose it.
            access_config={"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": False},
            deletion_protection=args.protect,
            tags=self.tags,
            opts=self.child_opts(protect=args.protect, depends_on=[attachment, encryption, log_group]),
        )

    def _node_security_group(self) -> aws.ec2.SecurityGroup:
        # Identity of the nodes for the data stores' rules; node-to-node and control-plane
        # traffic rides on the cluster security group EKS manages.
        group = aws.ec2.SecurityGroup(
            self.child_name("nodes-sg"),
            vpc_id=self._args.network.vpc.id,
            description=f"Nodes of {self._args.cluster_name}",
            tags=self.tags,
            opts=self.child_opts(),
        )
        aws.vpc.SecurityGroupEgressRule(
            self.child_name("nodes-egress"),
            security_group_id=group.id,
            ip_protocol="-1",
            cidr_ipv4="0.0.0.0/0",
            description="Nodes reach AWS APIs, images and the data stores",
            tags=self.tags,
            opts=self.child_opts(),
        )
        return group

    def _node_role(self) -> aws.iam.Role:
        role = aws.iam.Role(
            self.child_name("node-role"),
            assume_role_policy=iam_policies.assume_role("ec2.amazonaws.com"),
            tags=self.tags,
            opts=self.child_opts(),
        )
        self._node_policy_attachments = [
            aws.iam.RolePolicyAttachment(
                self.child_name(f"node-policy-{index}"), role=role.name, policy_arn=policy, opts=self.child_opts()
            )
            for index, policy in enumerate(NODE_POLICIES)
        ]
        return role

    def _node_group(self, pool: str, config: NodeGroupConfig) -> aws.eks.NodeGroup:
        template = aws.ec2.LaunchTemplate(
            self.child_name(f"{pool}-template"),
            # IMDSv2 only, one hop: pods cannot borrow the node's credentials (FSBP EC2.8).
            metadata_options={"http_endpoint": "enabled", "http_tokens": "required", "http_put_response_hop_limit": 1},
            block_device_mappings=[
                {
                    "device_name": "/dev/xvda",
                    "ebs": {"volume_size": config.disk_gb, "volume_type": "gp3", "encrypted": "true"},
                }
            ],
            vpc_security_group_ids=[self.node_security_group.id, self.cluster_security_group_id],
            tag_specifications=[
                {"resource_type": "instance", "tags": self.tags},
                {"resource_type": "volume", "tags": self.tags},
            ],
            tags=self.tags,
            opts=self.child_opts(),
        )
        return aws.eks.NodeGroup(
            self.child_name(pool),
            cluster_name=self.cluster.name,
            # A prefix, not a name: changing instance types or the disk replaces the group, and the
            # new group must exist beside the old one while pods move (create before delete).
            node_group_name_prefix=naming.name_prefix(
                "aws:eks/nodeGroup:NodeGroup", f"{self._args.cluster_name}-{pool}"
            ),
            node_role_arn=self.node_role.arn,
            subnet_ids=self._args.network.private_subnet_ids,
            instance_types=list(config.instance_types),
            ami_type="AL2023_x86_64_STANDARD",
            capacity_type="ON_DEMAND",
            scaling_config={"min_size": config.min_size, "max_size": config.max_size, "desired_size": config.min_size},
            update_config={"max_unavailable": 1},
            launch_template={"id": template.id, "version": template.latest_version.apply(str)},
            labels={NODE_POOL_LABEL: pool},
            tags=self.tags,
            # The cluster autoscaler owns the desired size; `pulumi up` must not reset it.
            opts=self.child_opts(
                ignore_changes=["scalingConfig.desiredSize"], depends_on=self._node_policy_attachments
            ),
        )

    def _addons(self, node_groups: Sequence[aws.eks.NodeGroup]) -> None:
        versions = self._args.addons
        pinned = {
            "kube-proxy": versions.kube_proxy,
            "eks-pod-identity-agent": versions.pod_identity_agent,
            "coredns": versions.coredns,
            # Resource metrics for the HorizontalPodAutoscalers (EKS community add-on).
            "metrics-server": versions.metrics_server,
        }
        self._addon("vpc-cni", versions.vpc_cni, node_groups, configuration=VPC_CNI_CONFIGURATION)
        for addon, version in pinned.items():
            self._addon(addon, version, node_groups)
        agent_role = self.pod_role(
            self.child_name("cloudwatch-agent-role"), CLOUDWATCH_NAMESPACE, CLOUDWATCH_SERVICE_ACCOUNT, self, self.tags
        )
        aws.iam.RolePolicyAttachment(
            self.child_name("cloudwatch-agent-policy"),
            role=agent_role.name,
            policy_arn=CLOUDWATCH_AGENT_POLICY,
            opts=self.child_opts(),
        )
        self._addon(
            "amazon-cloudwatch-observability",
            versions.cloudwatch_observability,
            [*node_groups, *self._container_insights_log_groups()],
            [
                aws.eks.AddonPodIdentityAssociationArgs(
                    role_arn=agent_role.arn, service_account=CLOUDWATCH_SERVICE_ACCOUNT
                )
            ],
        )

    def _addon(
        self,
        addon: str,
        version: str,
        after: Sequence[pulumi.Resource],
        pod_identity_associations: Sequence[aws.eks.AddonPodIdentityAssociationArgs] | None = None,
        configuration: Mapping[str, str] | None = None,
    ) -> aws.eks.Addon:
        return aws.eks.Addon(
            self.child_name(addon),
            cluster_name=self.cluster.name,
            addon_name=addon,
            addon_version=version,
            configuration_values=json.dumps(dict(configuration), sort_keys=True) if configuration else None,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            tags=self.tags,
            opts=self.child_opts(depends_on=list(after)),
            pod_identity_associations=pod_identity_associations,
        )

    def _container_insights_log_groups(self) -> list[aws.cloudwatch.LogGroup]:
        """The groups the CloudWatch agent and Fluent Bit of the observability add-on write to, made first with
        our key and retention: the add-on otherwise creates them never expiring and unencrypted
        (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Container-Insights-setup-logs-FluentBit.html)."""
        args = self._args
        return [
            self.log_group(
                f"container-insights-{kind}",
                f"/aws/containerinsights/{args.cluster_name}/{kind}",
                args.logs_key.arn,
                args.log_retention_days,
            )
            for kind in CONTAINER_INSIGHTS_LOGS
        ]

    def _autoscaler_identity(self) -> aws.iam.Role:
        """The cluster autoscaler's role: it may resize and shrink only this cluster's node groups."""
        role = self.pod_role(
            self.child_name("autoscaler-role"), AUTOSCALER_NAMESPACE, AUTOSCALER_SERVICE_ACCOUNT, self, self.tags
        )
        aws.iam.RolePolicy(
            self.child_name("autoscaler-policy"),
            role=role.id,
            policy=iam_policies.document(*iam_policies.cluster_autoscaler(self._args.cluster_name)),
            opts=self.child_opts(),
        )
        self.bind_service_account(
            self.child_name("autoscaler-pod-identity"),
            role,
            AUTOSCALER_NAMESPACE,
            AUTOSCALER_SERVICE_ACCOUNT,
            self,
            self.tags,
        )
        return role

    def _access_entries(self) -> None:
        args = self._args
        deployer: pulumi.Input[str] = args.deploy_role_arn or _session_issuer(args.admin_role_arns)
        self._access_entry("deployer", deployer, CLUSTER_ADMIN_POLICY)
        for index, role_arn in enumerate(args.admin_role_arns):
            self._access_entry(f"admin-{index}", role_arn, CLUSTER_ADMIN_POLICY)
        for index, role_arn in enumerate(args.viewer_role_arns):
            self._access_entry(f"viewer-{index}", role_arn, CLUSTER_VIEW_POLICY)

    def _access_entry(self, suffix: str, principal_arn: pulumi.Input[str], policy_arn: str) -> None:
        entry = aws.eks.AccessEntry(
            self.child_name(suffix),
            cluster_name=self.cluster.name,
            principal_arn=principal_arn,
            type="STANDARD",
            tags=self.tags,
            opts=self.child_opts(),
        )
        aws.eks.AccessPolicyAssociation(
            self.child_name(f"{suffix}-policy"),
            cluster_name=self.cluster.name,
            principal_arn=entry.principal_arn,
            policy_arn=policy_arn,
            access_scope={"type": "cluster"},
            opts=self.child_opts(),
        )

    # --- for the services' roles ------------------------------------------------------

    def pod_role(
        self, name: str, namespace: str, service_account: str, parent: pulumi.Resource, tags: Mapping[str, str]
    ) -> aws.iam.Role:
        """A role that pods of this cluster running as ``namespace/service_account`` can assume through EKS Pod Identity."""
        return aws.iam.Role(
            name,
            assume_role_policy=iam_policies.pod_identity_trust(self._args.cluster_name, namespace, service_account),
            tags=dict(tags),
            opts=pulumi.ResourceOptions(parent=parent),
        )

    def bind_service_account(
        self,
        name: str,
        role: aws.iam.Role,
        namespace: str,
        service_account: str,
        parent: pulumi.Resource,
        tags: Mapping[str, str],
    ) -> aws.eks.PodIdentityAssociation:
        """Pods running as ``namespace/service_account`` get ``role``'s credentials."""
        return aws.eks.PodIdentityAssociation(
            name,
            cluster_name=self.cluster.name,
            namespace=namespace,
            service_account=service_account,
            role_arn=role.arn,
            tags=dict(tags),
            opts=pulumi.ResourceOptions(parent=parent),
        )

    @property
    def certificate_authority(self) -> pulumi.Output[str]:
        """Base64 CA bundle of the API server, for kubeconfigs and the Kubernetes provider."""
        return self.cluster.certificate_authority.apply(lambda ca: ca.data or "")


class AccessEntryConflictError(StackConfigError):
    """The identity running ``pulumi up`` is also listed in ``cluster.adminRoleArns``."""


def deployer_entry_conflict(issuer_arn: str, admin_role_arns: Sequence[str]) -> str:
    """``issuer_arn``, or :class:`AccessEntryConflictError` if ``adminRoleArns`` lists it (a second entry would
    fail with ResourceInUseException)."""
    if issuer_arn in admin_role_arns:
        raise AccessEntryConflictError(
            f"cluster.adminRoleArns lists {issuer_arn!r}, the role running `pulumi up`, which gets its own access "
            "entry; remove it from adminRoleArns, or set cluster.deployRoleArn to it and remove it from adminRoleArns"
        )
    return issuer_arn


def _session_issuer(admin_role_arns: Sequence[str]) -> pulumi.Output[str]:
    """The IAM role (not the STS session) running ``pulumi up``: access entries take role ARNs."""
    caller = aws.get_caller_identity_output()
    issuer = aws.iam.get_session_context_output(arn=caller.arn).issuer_arn
    return issuer.apply(lambda arn: deployer_entry_conflict(arn, admin_role_arns))


def _oidc_issuer(identities: Sequence[aws.eks.outputs.ClusterIdentity] | None) -> str:
    for identity in identities or ():
        for oidc in identity.oidcs or ():
            if oidc.issuer:
                return oidc.issuer
    return ""
