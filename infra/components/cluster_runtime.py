"""What the cluster itself runs for the services, beside the EKS add-ons: the node autoscaler."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.components.component import Component
from infra.config import NodeAutoscalerConfig
from infra.workloads.autoscaler import CHART, CHART_REPOSITORY, RELEASE, autoscaler_values


@dataclass(frozen=True)
class ClusterRuntimeArgs:
    """The cluster the runtime serves, and the provider that reaches it."""

    cluster_name: str
    region: str
    autoscaler: NodeAutoscalerConfig
    namespace: str
    """Namespace of the autoscaler (its Pod Identity association names it)."""
    service_account: str
    """Service account of the autoscaler (its Pod Identity association names it)."""
    provider: k8s.Provider


class ClusterRuntime(Component):
    """The cluster autoscaler, installed from its pinned chart."""

    def __init__(self, name: str, args: ClusterRuntimeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ClusterRuntime", name, {}, opts)
        self.autoscaler = k8s.helm.v3.Release(
            self.child_name(RELEASE),
            name=RELEASE,
            chart=CHART,
            version=args.autoscaler.chart_version,
            repository_opts={"repo": CHART_REPOSITORY},
            namespace=args.namespace,
            values=autoscaler_values(args.cluster_name, args.region, args.autoscaler.image_tag, args.service_account),
            # Wait for the autoscaler to run: a failed install is reported by this `up`.
            atomic=True,
            opts=self.child_opts(provider=args.provider),
        )
        self.register_outputs({})
