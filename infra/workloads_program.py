"""The workloads stack: the Kubernetes objects on the cluster the platform stack made.

A deploy is two ``pulumi up`` runs (see docs/infra.md): the platform stack (AWS, from
``Pulumi.yaml`` at the repository root), then, once the images are pushed, this one (from
``infra/stacks/workloads``). It reads the platform stack's outputs through a
``StackReference`` and the same typed ``Pulumi.<stack>.yaml``, and refuses to deploy
specs or config the platform stack was not last deployed with: a model's pods must not
start before its role and Pod Identity association exist.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from infra.cidrs import carve_subnets
from infra.components.cluster import AUTOSCALER_NAMESPACE, AUTOSCALER_SERVICE_ACCOUNT
from infra.components.cluster_runtime import ClusterRuntime, ClusterRuntimeArgs
from infra.components.online_store import REDIS_PORT
from infra.components.workloads import Workloads, WorkloadsArgs, kubeconfig, kubernetes_provider, placeholder
from infra.config import StackConfig, StackConfigError
from infra.naming import FEATURE_SERVER_IMAGE, MODEL_SERVER_IMAGE, SERVICES_NAMESPACE, physical_name
from infra.workloads.manifests import FeatureServerSettings, ServiceImage, WorkloadSettings, kubernetes_service_block
from mlplat.catalog import Catalog

#: The platform stack's outputs this stack reads.
PLATFORM_OUTPUTS = (
    "catalogDigest",
    "stackConfigDigest",
    "clusterName",
    "clusterEndpoint",
    "clusterCertificateAuthority",
    "imageRepositories",
    "onlineStoreEndpoint",
    "onlineStoreAuthSecretArn",
    "buckets",
    "decisionStreamName",
    "s3EndpointUrl",
    "clusterOidcIssuer",
    "clusterServiceIpv4Cidr",
    "scraperSubnetCidrs",
)


class PlatformMismatchError(StackConfigError):
    """The platform stack was last deployed from other specs or another stack config."""


@dataclass
class ServicesOnCluster:
    """What :func:`build_workloads` made."""

    runtime: ClusterRuntime
    services: Workloads
    outputs: dict[str, Any]


def check_platform(platform: Mapping[str, str], catalog_digest: str, config_digest: str, *, preview: bool) -> str:
    """``""`` when the platform stack was deployed from these specs and this config; else an error.

    In a preview the difference is expected (the platform's own preview is not applied
    yet), so the message is returned for a warning instead of raised.
    """
    stale = [
        what
        for what, deployed, here in (
            ("specs", platform.get("catalogDigest"), catalog_digest),
            ("stack config", platform.get("stackConfigDigest"), config_digest),
        )
        if deployed != here
    ]
    if not stale:
        return ""
    message = (
        f"the platform stack was last deployed with other {' and '.join(stale)} than this checkout's; "
        "run `pulumi up` of the platform stack (repository root) first, then this stack"
    )
    if preview:
        return message
    raise PlatformMismatchError(message)


def workload_settings(config: StackConfig) -> WorkloadSettings:
    """The services' settings, with placeholders where the platform stack's outputs go."""
    sizing = config.services.feature_server
    return WorkloadSettings(
        feature_server_image=ServiceImage(placeholder("featureServerRepository"), config.images.feature_server),
        model_server_image=ServiceImage(placeholder("modelServerRepository"), config.images.model_server),
        online_store_url=f"rediss://{placeholder('onlineStoreHost')}:{REDIS_PORT}",
        online_store_auth_secret_arn=placeholder("onlineStoreAuthSecretArn"),
        artifact_root="s3://" + placeholder("artifactsBucket"),
        decision_log_url="kinesis://" + placeholder("decisionStream"),
        aws_region=config.region,
        # The platform stack's network carves its subnets with the same function from the same
        # config (checked by digest before anything is applied).
        private_subnet_cidrs=carve_subnets(config.network.vpc_cidr, len(config.availability_zones)).private,
        s3_endpoint_url=placeholder("s3EndpointUrl"),
        oidc_issuer=placeholder("clusterOidcIssuer"),
        kubernetes_service_cidr=placeholder("kubernetesServiceAddress"),
        namespace=SERVICES_NAMESPACE,
        feature_server=FeatureServerSettings(
            min_replicas=sizing.min_replicas,
            max_replicas=sizing.max_replicas,
            cpu=sizing.cpu,
            memory=sizing.memory,
        ),
        spread_across_zones_strictly=config.services.strict_zone_spread,
        scraper_cidrs=tuple(placeholder(scraper_cidr_output(i)) for i in range(len(config.availability_zones))),
    )


def scraper_cidr_output(index: int) -> str:
    """The placeholder of the ``index``-th scraper subnet's block (one subnet per zone)."""
    return f"scraperSubnetCidr{index}"


def scraper_cidr(exported: Any, index: int, zones: int) -> str:
    """The ``index``-th of the platform stack's ``scraperSubnetCidrs``, which must hold one block per zone."""
    if not isinstance(exported, list) or len(exported) != zones:
        raise PlatformMismatchError(
            f"the platform stack exports scraperSubnetCidrs={exported!r}, not one block for each of the "
            f"{zones} zones; run `pulumi up` of the platform stack (repository root) first, then this stack"
        )
    return str(ipaddress.ip_network(str(exported[index]), strict=True))


def build_workloads(catalog: Catalog, config: StackConfig, platform_stack: str) -> ServicesOnCluster:
    """The cluster runtime and the services, on the cluster of ``platform_stack`` (``org/mlplat/<stack>``)."""
    env = config.environment
    platform = pulumi.StackReference(physical_name(env, "platform"), stack_name=platform_stack)
    output = platform.require_output
    checked = pulumi.Output.all(output("catalogDigest"), output("stackConfigDigest")).apply(
        lambda digests: _checked(digests, catalog, config)
    )
    cluster_config = pulumi.Output.all(
        checked, output("clusterName"), output("clusterEndpoint"), output("clusterCertificateAuthority")
    ).apply(lambda values: kubeconfig(str(values[1]), str(values[2]), str(values[3]), config.region))
    provider = kubernetes_provider(physical_name(env, "kubernetes"), cluster_config)
    runtime = ClusterRuntime(
        physical_name(env, "cluster-runtime"),
        ClusterRuntimeArgs(
            cluster_name=physical_name(env),
            region=config.region,
            autoscaler=config.cluster.autoscaler,
            namespace=AUTOSCALER_NAMESPACE,
            service_account=AUTOSCALER_SERVICE_ACCOUNT,
            provider=provider,
        ),
    )
    repositories, buckets = output("imageRepositories"), output("buckets")
    values: dict[str, pulumi.Input[str]] = {
        "featureServerRepository": repositories.apply(lambda r: str(r[physical_name(env, FEATURE_SERVER_IMAGE)])),
        "modelServerRepository": repositories.apply(lambda r: str(r[physical_name(env, MODEL_SERVER_IMAGE)])),
        "onlineStoreHost": output("onlineStoreEndpoint").apply(str),
        "onlineStoreAuthSecretArn": output("onlineStoreAuthSecretArn").apply(str),
        "artifactsBucket": buckets.apply(lambda b: str(b["artifacts"])),
        "decisionStream": output("decisionStreamName").apply(str),
        "s3EndpointUrl": output("s3EndpointUrl").apply(str),
        "clusterOidcIssuer": output("clusterOidcIssuer").apply(str),
        "kubernetesServiceAddress": output("clusterServiceIpv4Cidr").apply(lambda c: kubernetes_service_block(str(c))),
    }
    zones = len(config.availability_zones)
    for index in range(zones):
        values[scraper_cidr_output(index)] = output("scraperSubnetCidrs").apply(
            functools.partial(scraper_cidr, index=index, zones=zones)
        )
    services = Workloads(
        physical_name(env, "services"),
        WorkloadsArgs(catalog=catalog, settings=workload_settings(config), outputs=values, provider=provider),
    )
    outputs = {"servicesNamespace": SERVICES_NAMESPACE, "catalogDigest": catalog.digest}
    return ServicesOnCluster(runtime=runtime, services=services, outputs=outputs)


def _checked(digests: list[Any], catalog: Catalog, config: StackConfig) -> str:
    deployed = {"catalogDigest": str(digests[0]), "stackConfigDigest": str(digests[1])}
    warning = check_platform(deployed, catalog.digest, config.digest, preview=pulumi.runtime.is_dry_run())
    if warning:
        pulumi.log.warn(warning)
    return warning
