"""The node autoscaler's chart values: the Kubernetes cluster autoscaler on the managed node groups.

Why the cluster autoscaler (and not Karpenter): the platform's capacity is two managed
node groups with bounds in the stack config (``cluster.systemNodes``/``servingNodes``),
which EKS keeps patched and drains on AMI updates. The cluster autoscaler moves each
group's desired size between those bounds and nothing else: the groups' launch templates
(IMDSv2 only, encrypted disks), node roles and labels stay as the platform declares them.
It is the autoscaler terraform-aws-modules/eks and the EKS Blueprints add-ons pair with
managed node groups. Karpenter, which data-on-eks uses for bursty batch pools, would
replace the groups with its own NodePools and an interruption queue: more to operate for
two steady serving pools.
"""

from __future__ import annotations

from typing import Any

from infra.naming import NODE_POOL_LABEL, SYSTEM_POOL

#: Chart ``cluster-autoscaler`` of https://github.com/kubernetes/autoscaler (charts/cluster-autoscaler).
CHART = "cluster-autoscaler"
CHART_REPOSITORY = "https://kubernetes.github.io/autoscaler"
RELEASE = "cluster-autoscaler"


def autoscaler_values(cluster_name: str, region: str, image_tag: str, service_account: str) -> dict[str, Any]:
    """Values of the chart: auto-discovery of this cluster's groups, on the system pool, as ``service_account``.

    EKS tags every managed node group's Auto Scaling group with
    ``k8s.io/cluster-autoscaler/enabled`` and ``k8s.io/cluster-autoscaler/<cluster>``, which
    is what auto-discovery looks for; the role bound to ``service_account`` by Pod Identity
    may resize only groups carrying the second tag.
    """
    return {
        "cloudProvider": "aws",
        "awsRegion": region,
        "autoDiscovery": {"clusterName": cluster_name},
        "fullnameOverride": RELEASE,
        "image": {"tag": image_tag},
        "rbac": {"serviceAccount": {"create": True, "name": service_account}},
        "nodeSelector": {NODE_POOL_LABEL: SYSTEM_POOL},
        "extraArgs": {
            # The serving pool may list several instance types: keep zones balanced across them.
            "balance-similar-node-groups": True,
            "expander": "least-waste",
            # Model servers' memory-backed emptyDirs must not keep a node from scaling down.
            "skip-nodes-with-local-storage": False,
        },
        "containerSecurityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
