"""The services on EKS: the Kubernetes objects of :mod:`infra.workloads.manifests`, applied.

The manifests are rendered as plain data with placeholders where a value is only known
once AWS resources exist (the cache endpoint, bucket names, image repositories); this
component swaps each placeholder for its Pulumi output and creates one typed
pulumi-kubernetes resource per object, so every object is visible to previews, plans
and mocks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.components.component import Component
from infra.workloads.manifests import Manifest, WorkloadSettings, object_key, render_workloads
from mlplat.catalog import Catalog

_PLACEHOLDER = re.compile(r"(\{\{output:[a-zA-Z0-9]+\}\})")


def placeholder(name: str) -> str:
    """The marker rendered where output ``name`` goes."""
    return "{{output:" + name + "}}"


def resolve(value: Any, outputs: Mapping[str, pulumi.Input[str]]) -> Any:
    """``value`` with every placeholder replaced by its output (strings become outputs)."""
    if isinstance(value, str) and _PLACEHOLDER.search(value):
        parts = [part for part in _PLACEHOLDER.split(value) if part]
        pieces = [outputs[part[len("{{output:") : -2]] if _PLACEHOLDER.fullmatch(part) else part for part in parts]
        return pulumi.Output.concat(*pieces)
    if isinstance(value, dict):
        return {key: resolve(item, outputs) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, outputs) for item in value]
    return value


def kubeconfig(cluster_name: str, endpoint: str, certificate_authority: str, region: str) -> str:
    """A kubeconfig that authenticates with ``aws eks get-token``: no credentials inside.

    Built only from the cluster's name, endpoint and CA, which change only if the cluster
    itself is replaced, so no spec change ever replaces the Kubernetes provider.
    """
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region, "--output", "json"],
            "interactiveMode": "Never",
        }
    }
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": cluster_name,
                    "cluster": {"server": endpoint, "certificate-authority-data": certificate_authority},
                }
            ],
            "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
            "current-context": cluster_name,
            "users": [{"name": cluster_name, "user": user}],
        },
        sort_keys=True,
    )


@dataclass(frozen=True)
class WorkloadsArgs:
    """The catalog, the rendered settings (with placeholders) and the outputs behind them."""

    catalog: Catalog
    settings: WorkloadSettings
    outputs: Mapping[str, pulumi.Input[str]]
    """Values of the placeholders used in ``settings`` (the platform stack's outputs)."""
    provider: k8s.Provider
    """The cluster's provider (:func:`kubernetes_provider`)."""


Factory = Callable[[str, Manifest, pulumi.ResourceOptions], pulumi.CustomResource]

_FACTORIES: dict[str, Factory] = {
    "Namespace": lambda n, m, o: k8s.core.v1.Namespace(n, metadata=m["metadata"], opts=o),
    "ConfigMap": lambda n, m, o: k8s.core.v1.ConfigMap(n, metadata=m["metadata"], data=m["data"], opts=o),
    "ServiceAccount": lambda n, m, o: k8s.core.v1.ServiceAccount(
        n, metadata=m["metadata"], automount_service_account_token=m["automountServiceAccountToken"], opts=o
    ),
    "Deployment": lambda n, m, o: k8s.apps.v1.Deployment(n, metadata=m["metadata"], spec=m["spec"], opts=o),
    "Service": lambda n, m, o: k8s.core.v1.Service(n, metadata=m["metadata"], spec=m["spec"], opts=o),
    "HorizontalPodAutoscaler": lambda n, m, o: k8s.autoscaling.v2.HorizontalPodAutoscaler(
        n, metadata=m["metadata"], spec=m["spec"], opts=o
    ),
    "PodDisruptionBudget": lambda n, m, o: k8s.policy.v1.PodDisruptionBudget(
        n, metadata=m["metadata"], spec=m["spec"], opts=o
    ),
    "NetworkPolicy": lambda n, m, o: k8s.networking.v1.NetworkPolicy(n, metadata=m["metadata"], spec=m["spec"], opts=o),
}


def logical_name(manifest: Manifest) -> str:
    """``deployment-model-fraud``: stable, unique per object, independent of the stack."""
    return f"{manifest['kind'].lower()}-{manifest['metadata']['name']}"


def kubernetes_provider(name: str, kubeconfig_json: pulumi.Input[str]) -> k8s.Provider:
    """The provider every Kubernetes object of the workloads stack goes through."""
    return k8s.Provider(
        name,
        kubeconfig=kubeconfig_json,
        # Deleting the namespace would delete everything in it; objects are removed one by one.
        delete_unreachable=False,
    )


class Workloads(Component):
    """Every Kubernetes object of the platform's services, through one provider.

    Pulumi waits for each Deployment to roll out (no ``skipAwait``): the deploy order
    pushes the images before this stack runs, so a Deployment that does not become ready
    is a real failure to report, not a missing image.
    """

    def __init__(self, name: str, args: WorkloadsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("Workloads", name, {}, opts)
        self.provider = args.provider
        self.objects: dict[str, pulumi.CustomResource] = {}
        namespace: pulumi.Resource | None = None
        for manifest in render_workloads(args.catalog, args.settings):
            resolved = resolve(manifest, args.outputs)
            depends = [namespace] if namespace is not None else []
            options = self.child_opts(provider=self.provider, depends_on=depends)
            created = _FACTORIES[manifest["kind"]](logical_name(manifest), resolved, options)
            self.objects[object_key(manifest)] = created
            if manifest["kind"] == "Namespace":
                namespace = created
        self.register_outputs({})
