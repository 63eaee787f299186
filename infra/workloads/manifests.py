"""Renders the Kubernetes objects of the feature server and the model servers.

Pure functions from the catalog and typed settings to plain manifest dictionaries, so
that every object can be tested, and validated against the Kubernetes OpenAPI schema,
without Pulumi. :mod:`infra.components.workloads` turns them into pulumi-kubernetes
resources.

Each model gets one Deployment that loads every version its rollout names (primary,
canary, shadow) and splits decisions in-process: the canary and the shadow then score
the very feature vector the primary scored, from one online-store read, and the
decision log holds all of them side by side.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.naming import NODE_POOL_LABEL, SERVING_POOL, SYSTEM_POOL
from mlplat.catalog import Catalog
from mlplat.deploy_checks import catalog_config_map_data, feature_server_catalog, model_server_catalog, snapshot_text
from mlplat.object_limits import CATALOG_CONFIGMAP_KEY
from mlplat.spec.kinds import Caller, Model, SourceType
from mlplat.spec.types import kubernetes_name

Manifest = dict[str, Any]

PART_OF = "mlplat"
FEATURE_SERVER = "feature-server"
MODEL_SERVER = "model-server"
CATALOG_CONFIGMAP = "catalog"
#: Hex digits of the content hash in a catalog ConfigMap's name.
CATALOG_HASH_LENGTH = 10
CATALOG_MOUNT = "/etc/mlplat"
CALLER_LABEL = "mlplat.dev/caller"
#: The audience of the service account tokens callers send; the services accept no other.
CALLER_AUDIENCE = "mlplat"
#: The issuer's keys, from the API server inside the VPC: the same keys the EKS OIDC
#: endpoint publishes, which pods could reach only over the internet. The API server
#: admits every service account to them (the default ``system:service-account-issuer-discovery``
#: binding), so each pod presents its own token, projected for the API server, and checks
#: the server against the cluster CA.
CLUSTER_KEYS_URL = "https://kubernetes.default.svc/openid/v1/jwks"
KUBE_API_MOUNT = "/var/run/secrets/mlplat/kube-api"
HTTP_PORT = 8080
#: Where the services serve ``/metrics``: their HTTP port (the pods' ``prometheus.io/port``).
METRICS_PORT = HTTP_PORT
METRICS_PATH = "/metrics"
RUN_AS_USER = 10001
#: Where EKS Pod Identity serves credentials on every node (the agent's link-local address;
#: https://docs.aws.amazon.com/eks/latest/userguide/pod-id-agent-setup.html).
POD_IDENTITY_AGENT = ("169.254.170.23/32", 80)
#: CoreDNS pods, as the coredns add-on labels them.
KUBE_DNS = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}
HTTPS_PORT = 443
#: How long a terminating pod keeps serving before it is sent SIGTERM. Once a pod is
#: terminating its endpoints are no longer ready ("Terminating endpoints always have their
#: ready status as false", https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination),
#: but kube-proxy on every node, and callers' keep-alive pools, learn it only after a while;
#: a server that closed its socket at once would refuse the connections still sent to it.
#: The ``sleep`` action needs no binary in the image (on by default since Kubernetes 1.30,
#: https://kubernetes.io/docs/concepts/containers/container-lifecycle-hooks/#hook-handler-implementations).
PRE_STOP_DELAY_SECONDS = 5
#: After SIGTERM: in-flight requests get this long (``MLPLAT_GRACEFUL_SHUTDOWN_SECONDS``)...
DRAIN_SECONDS = 20
#: ...and then the app's shutdown this long to flush the decision log and close the store.
SHUTDOWN_SECONDS = 5
#: The grace period counts from the start of the preStop hook, so it holds all three
#: (https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination);
#: past it the kubelet kills the container.
TERMINATION_GRACE_SECONDS = PRE_STOP_DELAY_SECONDS + DRAIN_SECONDS + SHUTDOWN_SECONDS


@dataclass(frozen=True)
class ServiceImage:
    """A container image; the tag comes from the stack config, never ``latest``."""

    repository: str
    tag: str

    def __str__(self) -> str:
        return f"{self.repository}:{self.tag}"


@dataclass(frozen=True)
class FeatureServerSettings:
    """Sizing of the feature server Deployment."""

    min_replicas: int = 2
    max_replicas: int = 6
    cpu: str = "500m"
    memory: str = "512Mi"


@dataclass(frozen=True)
class WorkloadSettings:
    """Everything the services need from the stack, none of it secret.

    The Redis AUTH token is not here: pods read it from Secrets Manager at start-up
    (``auth_secret_arn``) with their own pod identity, so no manifest holds it.
    """

    feature_server_image: ServiceImage
    model_server_image: ServiceImage
    online_store_url: str
    """``rediss://host:port``: TLS to ElastiCache; the token is fetched separately."""
    online_store_auth_secret_arn: str
    artifact_root: str
    """``s3://<artifacts bucket>``: model artifacts live under ``<model>/<version>/``."""
    decision_log_url: str
    """Production decision sink, e.g. ``kinesis://<stream name>``."""
    aws_region: str
    private_subnet_cidrs: tuple[str, ...]
    """The VPC's private subnets: where the interface endpoints, the online store and the API
    server's ENIs answer, and the only blocks of the VPC the services may dial."""
    s3_endpoint_url: str
    """The S3 interface endpoint's URL (inside the VPC); the model servers read artifacts through it."""
    oidc_issuer: str
    """The cluster's OIDC issuer URL: the services verify callers' service account tokens against its keys."""
    kubernetes_service_cidr: str
    """The ``kubernetes`` Service's cluster IP as a /32 (:func:`kubernetes_service_block`): the API server."""
    namespace: str = "mlplat"
    feature_server: FeatureServerSettings = field(default_factory=FeatureServerSettings)
    scraper_cidrs: tuple[str, ...] = ()
    """The metrics scraper's subnets (the platform stack's ``scraperSubnetCidrs``): admitted to
    ``METRICS_PORT`` and nothing else. Left out: no scraper is admitted, and ``ServiceMetricsDown`` fires."""
    spread_across_zones_strictly: bool = False
    """True in production: a replica is not scheduled rather than put in a zone that already has more."""


def _labels(component: str, instance: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": instance,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
    }


def _selector(component: str, instance: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": instance, "app.kubernetes.io/component": component}


def _metadata(name: str, settings: WorkloadSettings, labels: Mapping[str, str], **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": settings.namespace, "labels": dict(labels), **extra}


def namespace(settings: WorkloadSettings) -> Manifest:
    """The namespace, enforcing the ``restricted`` Pod Security Standard."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": settings.namespace,
            "labels": {
                "app.kubernetes.io/part-of": PART_OF,
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
            },
        },
    }


def catalog_config_map_name(workload: _Workload) -> str:
    """``feature-server-catalog-<10 hex>``: named by its content, so a new catalog is a new object.

    The provider replaces a ConfigMap whose data changes (it treats them as immutable). Under
    a fixed name the old one must be deleted first, and a pod starting in between cannot mount
    its catalog. Under a content name the new ConfigMap is created beside the old one, the
    Deployment rolls onto it, and the old one is deleted after the rollout.
    """
    content = hashlib.sha256(snapshot_text(workload.catalog).encode()).hexdigest()
    return f"{workload.name}-{CATALOG_CONFIGMAP}-{content[:CATALOG_HASH_LENGTH]}"


def catalog_config_map(workload: _Workload, settings: WorkloadSettings) -> Manifest:
    """The catalog slice a service starts from: only what it serves, so others' changes never touch it."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(catalog_config_map_name(workload), settings, _labels(workload.component, workload.name)),
        # Immutable: the kubelet stops watching it, and nobody edits a catalog in place.
        "immutable": True,
        "data": catalog_config_map_data(workload.catalog),
    }


def _container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "fsGroup": RUN_AS_USER,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _probe(path: str, period: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": 3,
    }


def _spread(selector: Mapping[str, str], strict: bool) -> list[dict[str, Any]]:
    return [
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule" if strict else "ScheduleAnyway",
            "labelSelector": {"matchLabels": dict(selector)},
        },
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": dict(selector)},
        },
    ]


@dataclass(frozen=True)
class _Workload:
    name: str
    component: str
    image: ServiceImage
    args: list[str]
    env: dict[str, str]
    cpu: str
    memory: str
    min_replicas: int
    max_replicas: int
    live_path: str
    ready_path: str
    catalog: Catalog
    pool: str
    """The node pool (``mlplat.io/pool`` label) the pods run on."""


def _deployment(workload: _Workload, settings: WorkloadSettings) -> Manifest:
    labels = _labels(workload.component, workload.name)
    selector = _selector(workload.component, workload.name)
    resources = {"cpu": workload.cpu, "memory": workload.memory}
    container = {
        "name": workload.component,
        "image": str(workload.image),
        "imagePullPolicy": "IfNotPresent",
        "args": workload.args,
        "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}],
        "env": [{"name": key, "value": value} for key, value in sorted(workload.env.items())],
        "resources": {"requests": resources, "limits": resources},
        "livenessProbe": _probe(workload.live_path, 10),
        "readinessProbe": _probe(workload.ready_path, 5),
        "startupProbe": {**_probe(workload.live_path, 2), "failureThreshold": 60},
        "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_DELAY_SECONDS}}},
        "securityContext": _container_security(),
        "volumeMounts": [
            {"name": "catalog", "mountPath": CATALOG_MOUNT, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - a private emptyDir, not a shared /tmp
            {"name": "kube-api", "mountPath": KUBE_API_MOUNT, "readOnly": True},
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(workload.name, settings, labels),
        "spec": {
            # No `replicas`: the HorizontalPodAutoscaler owns the count, and a `pulumi up` that
            # set it would undo every scale-out (Kubernetes defaults to 1 until the HPA acts).
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {
                        # A new catalog rolls the pods, which read it only at start-up.
                        "mlplat.dev/catalog-digest": workload.catalog.digest,
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(METRICS_PORT),
                        "prometheus.io/path": METRICS_PATH,
                    },
                },
                "spec": {
                    "serviceAccountName": workload.name,
                    "automountServiceAccountToken": False,
                    "securityContext": _pod_security(),
                    "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
                    "nodeSelector": {NODE_POOL_LABEL: workload.pool},
                    "topologySpreadConstraints": _spread(selector, settings.spread_across_zones_strictly),
                    "containers": [container],
                    "volumes": [
                        {"name": "catalog", "configMap": {"name": catalog_config_map_name(workload)}},
                        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
                        _kube_api_volume(),
                    ],
                },
            },
        },
    }


def _kube_api_volume() -> dict[str, Any]:
    """The pod's own service account token (for the API server, renewed by the kubelet) and the cluster CA.

    The only credential the pods get, and only to fetch the issuer's keys; the service
    accounts hold no role, and ``automountServiceAccountToken`` stays off.
    """
    return {
        "name": "kube-api",
        "projected": {
            "sources": [
                {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            ]
        },
    }


def _service(workload: _Workload, settings: WorkloadSettings) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(workload.name, settings, _labels(workload.component, workload.name)),
        "spec": {
            "type": "ClusterIP",
            "selector": _selector(workload.component, workload.name),
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def _service_account(workload: _Workload, settings: WorkloadSettings) -> Manifest:
    # AWS permissions reach the pods through an EKS Pod Identity association on this
    # service account (created with the IAM role in infra), not through annotations.
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _metadata(workload.name, settings, _labels(workload.component, workload.name)),
        "automountServiceAccountToken": False,
    }


def _autoscaler(workload: _Workload, settings: WorkloadSettings) -> Manifest:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(workload.name, settings, _labels(workload.component, workload.name)),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": workload.name},
            "minReplicas": workload.min_replicas,
            "maxReplicas": workload.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}},
                }
            ],
        },
    }


def _disruption_budget(workload: _Workload, settings: WorkloadSettings) -> Manifest:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(workload.name, settings, _labels(workload.component, workload.name)),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _selector(workload.component, workload.name)}},
    }


def caller_peer(caller: Caller) -> dict[str, Any]:
    """The NetworkPolicy peer of a caller's pods: its namespace (by name) and its pods' labels."""
    network = caller.spec.network
    namespace = network.namespace or caller.spec.service_account.namespace
    labels = network.pod_labels or {CALLER_LABEL: kubernetes_name(caller.metadata.name)}
    return {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
        "podSelector": {"matchLabels": dict(sorted(labels.items()))},
    }


def _peers(catalog: Catalog, names: Iterable[str]) -> list[dict[str, Any]]:
    return [caller_peer(catalog.callers[name]) for name in sorted(set(names))]


def feature_server_callers(catalog: Catalog) -> set[str]:
    """Callers granted anything on the feature server: readers of its views, writers of push sources."""
    readers = {name for view in catalog.feature_views.values() for name in view.spec.readers}
    push = [source for source in catalog.sources.values() if source.spec.type is SourceType.PUSH]
    return readers | {name for source in push for name in source.spec.writers}


def model_server_callers(model: Model) -> set[str]:
    """Callers granted decisions or inference on ``model``."""
    return {*model.spec.serving.callers, *model.spec.serving.inference_callers}


def _network_policy(workload: _Workload, settings: WorkloadSettings, sources: list[dict[str, Any]]) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(workload.name, settings, _labels(workload.component, workload.name)),
        "spec": {
            "podSelector": {"matchLabels": _selector(workload.component, workload.name)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress_rules(settings, sources),
            "egress": egress_rules(settings),
        },
    }


def ingress_rules(settings: WorkloadSettings, sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Who may connect: the callers on the HTTP port, the metrics scraper on the metrics port only.

    The Managed Prometheus scraper is not a pod: it scrapes from network interfaces in the
    network's scraper subnets (AMP user guide, "Ingest metrics with AWS managed collectors":
    https://docs.aws.amazon.com/prometheus/latest/userguide/AMP-collector.html), so no
    namespace or pod selector can name it; it is admitted by those subnets' blocks, which
    hold nothing else. A rule with no peers would admit everyone, so a service nobody
    may call gets no caller rule at all.
    """
    rules = []
    if sources:
        rules.append({"from": sources, "ports": [{"port": HTTP_PORT, "protocol": "TCP"}]})
    if settings.scraper_cidrs:
        scraper = [{"ipBlock": {"cidr": cidr}} for cidr in settings.scraper_cidrs]
        rules.append({"from": scraper, "ports": [{"port": METRICS_PORT, "protocol": "TCP"}]})
    return rules


def egress_rules(settings: WorkloadSettings) -> list[dict[str, Any]]:
    """Where the services may connect, and nothing else, once the VPC CNI enforces policies.

    * DNS to CoreDNS only.
    * EKS Pod Identity's agent on the node, for the pods' AWS credentials.
    * The online store's port in the private subnets (ElastiCache's subnet group).
    * HTTPS to the private subnets: Secrets Manager, Kinesis and STS through interface
      endpoints with private DNS, S3 through its interface endpoint (``MLPLAT_S3_ENDPOINT_URL``),
      all of them in the private subnets. Not the whole VPC: its public subnets (load
      balancers, NAT gateways) and scraper subnets hold nothing the services dial.
      The S3 gateway endpoint cannot be allowed here: it routes to S3's public prefix
      list, which a NetworkPolicy cannot name, and allowing 443 to the internet would
      let a compromised pod send data anywhere.
    * HTTPS to the API server, for the issuer's keys (``CLUSTER_KEYS_URL``): pods dial the
      ``kubernetes`` Service's cluster IP, which kube-proxy translates to the control
      plane's cross-account ENIs in the cluster's subnets (port 443). Which of the two
      addresses the VPC CNI's eBPF filter sees depends on where it sits relative to that
      translation, and EKS offers no selector for the control plane (it is not a pod:
      https://github.com/aws/aws-network-policy-agent/issues/281, whose answer is to
      allow the endpoint IPs or their subnets), so both are allowed: the endpoints
      through the private subnets' rule above (the ENIs move when the control plane is
      replaced, within the cluster's subnets, which are these), the cluster IP by its own /32.
    """
    agent_cidr, agent_port = POD_IDENTITY_AGENT
    vpc = [{"ipBlock": {"cidr": cidr}} for cidr in settings.private_subnet_cidrs]
    return [
        {"to": [KUBE_DNS], "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]},
        {"to": [{"ipBlock": {"cidr": agent_cidr}}], "ports": [{"port": agent_port, "protocol": "TCP"}]},
        {"to": vpc, "ports": [{"port": online_store_port(settings.online_store_url), "protocol": "TCP"}]},
        {"to": vpc, "ports": [{"port": HTTPS_PORT, "protocol": "TCP"}]},
        {
            "to": [{"ipBlock": {"cidr": settings.kubernetes_service_cidr}}],
            "ports": [{"port": HTTPS_PORT, "protocol": "TCP"}],
        },
    ]


def kubernetes_service_block(service_cidr: str) -> str:
    """The ``kubernetes`` Service's cluster IP as a /32: the first address of the Service range.

    The API server allocates that address to the ``default/kubernetes`` Service
    (https://kubernetes.io/docs/concepts/services-networking/cluster-ip-allocation/).
    """
    try:
        network = ipaddress.ip_network(service_cidr)
    except ValueError:
        raise ValueError(f"the cluster's Service range {service_cidr!r} is not a CIDR such as 172.20.0.0/16") from None
    return f"{network[1]}/{network.max_prefixlen}"


def online_store_port(url: str) -> int:
    """The port of a ``redis[s]://host:port`` URL (the host may still be a placeholder)."""
    _, _, port = url.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"online store URL {url!r} names no port; write rediss://<host>:<port>")
    return int(port)


def _common_env(settings: WorkloadSettings) -> dict[str, str]:
    return {
        "MLPLAT_CATALOG": f"{CATALOG_MOUNT}/{CATALOG_CONFIGMAP_KEY}",
        "MLPLAT_ONLINE_STORE_URL": settings.online_store_url,
        "MLPLAT_ONLINE_STORE_AUTH_SECRET_ARN": settings.online_store_auth_secret_arn,
        "AWS_REGION": settings.aws_region,
        # Callers' tokens are verified against the issuer's keys, fetched from the API server.
        "MLPLAT_AUTH": "on",
        "MLPLAT_AUTH_ISSUER": settings.oidc_issuer,
        "MLPLAT_AUTH_AUDIENCE": CALLER_AUDIENCE,
        "MLPLAT_AUTH_JWKS_URL": CLUSTER_KEYS_URL,
        "MLPLAT_AUTH_JWKS_TOKEN_FILE": f"{KUBE_API_MOUNT}/token",
        "MLPLAT_AUTH_JWKS_CA_FILE": f"{KUBE_API_MOUNT}/ca.crt",
        "MLPLAT_GRACEFUL_SHUTDOWN_SECONDS": str(DRAIN_SECONDS),
    }


def _feature_server(catalog: Catalog, settings: WorkloadSettings) -> _Workload:
    sizing = settings.feature_server
    return _Workload(
        name=FEATURE_SERVER,
        component=FEATURE_SERVER,
        image=settings.feature_server_image,
        args=["features", "--host", "0.0.0.0", "--port", str(HTTP_PORT)],  # noqa: S104 - pod network
        env=_common_env(settings),
        cpu=sizing.cpu,
        memory=sizing.memory,
        min_replicas=sizing.min_replicas,
        max_replicas=sizing.max_replicas,
        live_path="/health/live",
        ready_path="/health/ready",
        catalog=feature_server_catalog(catalog),
        pool=SYSTEM_POOL,
    )


def model_server_name(model: str) -> str:
    """Name of a model's Deployment, Service and service account: ``model-default-risk``."""
    return f"model-{kubernetes_name(model)}"


def _model_server(model: Model, catalog: Catalog, settings: WorkloadSettings) -> _Workload:
    serving = model.spec.serving
    env = {
        **_common_env(settings),
        "MLPLAT_MODEL": model.metadata.name,
        "MLPLAT_ARTIFACT_ROOT": settings.artifact_root,
        "MLPLAT_S3_ENDPOINT_URL": settings.s3_endpoint_url,
        "MLPLAT_DECISION_LOG": settings.decision_log_url,
    }
    return _Workload(
        name=model_server_name(model.metadata.name),
        component=MODEL_SERVER,
        image=settings.model_server_image,
        args=["models", "--model", model.metadata.name, "--host", "0.0.0.0", "--port", str(HTTP_PORT)],  # noqa: S104
        env=env,
        cpu=serving.resources.cpu,
        memory=serving.resources.memory,
        min_replicas=serving.replicas.min,
        max_replicas=serving.replicas.max,
        live_path="/v2/health/live",
        ready_path="/v2/health/ready",
        catalog=model_server_catalog(catalog, model.metadata.name),
        pool=SERVING_POOL,
    )


def _workload_objects(workload: _Workload, settings: WorkloadSettings, sources: list[dict[str, Any]]) -> list[Manifest]:
    return [
        _service_account(workload, settings),
        catalog_config_map(workload, settings),
        _deployment(workload, settings),
        _service(workload, settings),
        _autoscaler(workload, settings),
        _disruption_budget(workload, settings),
        _network_policy(workload, settings, sources),
    ]


def render_workloads(catalog: Catalog, settings: WorkloadSettings) -> list[Manifest]:
    """Every Kubernetes object of the platform's services, in apply order.

    Each NetworkPolicy admits the callers the specs grant something on that service
    (their namespace by name and their pods by label) and the metrics scraper (its
    subnets' blocks, on the metrics port); the
    model servers read the online store directly, so nothing of the platform's own
    calls the feature server.
    """
    objects = [namespace(settings)]
    feature_sources = _peers(catalog, feature_server_callers(catalog))
    objects += _workload_objects(_feature_server(catalog, settings), settings, feature_sources)
    for model in catalog.models.values():
        sources = _peers(catalog, model_server_callers(model))
        objects += _workload_objects(_model_server(model, catalog, settings), settings, sources)
    return objects


def object_key(manifest: Manifest) -> str:
    """A stable, unique name for a manifest: ``kind/namespace/name``."""
    metadata = manifest["metadata"]
    return "/".join(filter(None, [manifest["kind"], metadata.get("namespace"), metadata["name"]]))
