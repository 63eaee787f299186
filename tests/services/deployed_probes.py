"""The probe paths the services' rendered Deployments give the kubelet, for the tests that call them.

The kubelet sends no token, so each of these must answer without one on the real app, with
caller identity on as it is on the cluster.
"""

from __future__ import annotations

from infra.workloads.manifests import ServiceImage, WorkloadSettings, render_workloads
from mlplat.catalog import Catalog

_PLACEHOLDERS = WorkloadSettings(
    feature_server_image=ServiceImage("registry.example/feature-server", "1.0.0"),
    model_server_image=ServiceImage("registry.example/model-server", "1.0.0"),
    online_store_url="rediss://cache.example:6379",
    online_store_auth_secret_arn="arn:aws:secretsmanager:eu-west-1:123456789012:secret:auth",
    artifact_root="s3://artifacts",
    decision_log_url="kinesis://decisions",
    aws_region="eu-west-1",
    private_subnet_cidrs=("10.40.0.0/18",),
    s3_endpoint_url="https://bucket.vpce-0abc.s3.eu-west-1.vpce.amazonaws.com",
    oidc_issuer="https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE",
    kubernetes_service_cidr="172.20.0.1/32",
)


def probe_paths(catalog: Catalog, component: str) -> set[str]:
    """Every ``httpGet`` path of the liveness, readiness and startup probes of ``component``'s pods."""
    paths = set()
    for manifest in render_workloads(catalog, _PLACEHOLDERS):
        labels = manifest["metadata"]["labels"]
        if manifest["kind"] == "Deployment" and labels["app.kubernetes.io/component"] == component:
            [container] = manifest["spec"]["template"]["spec"]["containers"]
            paths |= {
                container[probe]["httpGet"]["path"] for probe in ("livenessProbe", "readinessProbe", "startupProbe")
            }
    assert paths, f"no Deployment of {component}"
    return paths
