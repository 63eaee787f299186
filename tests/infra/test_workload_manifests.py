"""The services' Kubernetes objects: valid for the cluster's version, locked down, one set per model."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import kubernetes_validate
import pytest
from pydantic import AliasChoices

from infra.components.workloads import logical_name
from infra.workloads.manifests import (
    FEATURE_SERVER,
    KUBE_DNS,
    MODEL_SERVER,
    FeatureServerSettings,
    ServiceImage,
    WorkloadSettings,
    caller_peer,
    kubernetes_service_block,
    model_server_name,
    object_key,
    render_workloads,
)
from mlplat.catalog import Catalog
from mlplat.loader import load_catalog
from mlplat.spec.kinds import Caller
from services.settings import EnvironmentSettings

KUBERNETES_VERSION = "1.33.0"
SCRAPER_CIDRS = ("10.40.240.0/22", "10.40.244.0/22", "10.40.248.0/22")
PRIVATE_CIDRS = ("10.40.0.0/18", "10.40.64.0/18", "10.40.128.0/18")


@pytest.fixture(scope="module")
def catalog(specs_dir: Path) -> Catalog:
    return load_catalog(specs_dir)


@pytest.fixture(scope="module")
def settings() -> WorkloadSettings:
    return WorkloadSettings(
        feature_server_image=ServiceImage(
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlplat-feature-server", "1.4.2"
        ),
        model_server_image=ServiceImage("123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlplat-model-server", "1.4.2"),
        online_store_url="rediss://master.mlplat-prod.abc.euw1.cache.amazonaws.com:6379",
        online_store_auth_secret_arn="arn:aws:secretsmanager:eu-west-1:123456789012:secret:mlplat-prod-redis-auth",
        artifact_root="s3://mlplat-prod-artifacts",
        decision_log_url="kinesis://mlplat-prod-decisions",
        aws_region="eu-west-1",
        private_subnet_cidrs=PRIVATE_CIDRS,
        oidc_issuer="https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
        s3_endpoint_url="https://bucket.vpce-0abc-def.s3.eu-west-1.vpce.amazonaws.com",
        kubernetes_service_cidr="172.20.0.1/32",
        scraper_cidrs=SCRAPER_CIDRS,
        feature_server=FeatureServerSettings(),
        spread_across_zones_strictly=True,
    )


def _pods(manifests: list[dict]) -> list[dict]:
    return [m["spec"]["template"]["spec"] for m in manifests if m["kind"] == "Deployment"]


def test_every_object_validates_against_the_cluster_schema(catalog: Catalog, settings: WorkloadSettings) -> None:
    for manifest in render_workloads(catalog, settings):
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_object_keys_are_unique(catalog: Catalog, settings: WorkloadSettings) -> None:
    keys = [object_key(m) for m in render_workloads(catalog, settings)]
    assert len(keys) == len(set(keys))


def test_pods_run_non_root_with_read_only_root_and_no_capabilities(
    catalog: Catalog, settings: WorkloadSettings
) -> None:
    pods = _pods(render_workloads(catalog, settings))
    assert len(pods) == 1 + len(catalog.models)
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"] == {"drop": ["ALL"]}
            assert container["resources"]["requests"] == container["resources"]["limits"]
            assert container["livenessProbe"]["httpGet"]["path"].endswith("/live")
            assert container["readinessProbe"]["httpGet"]["path"].endswith("/ready")
            assert not container["image"].endswith(":latest")


def test_model_servers_take_resources_and_replicas_from_their_spec(
    catalog: Catalog, settings: WorkloadSettings
) -> None:
    manifests = {object_key(m): m for m in render_workloads(catalog, settings)}
    for name, model in catalog.models.items():
        deployment = manifests[f"Deployment/mlplat/{model_server_name(name)}"]
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["resources"]["limits"] == {
            "cpu": model.spec.serving.resources.cpu,
            "memory": model.spec.serving.resources.memory,
        }
        autoscaler = manifests[f"HorizontalPodAutoscaler/mlplat/{model_server_name(name)}"]
        assert autoscaler["spec"]["minReplicas"] == model.spec.serving.replicas.min
        assert autoscaler["spec"]["maxReplicas"] == model.spec.serving.replicas.max


def test_no_manifest_carries_the_store_secret(catalog: Catalog, settings: WorkloadSettings) -> None:
    text = repr(render_workloads(catalog, settings))
    assert "rediss://" in text  # the address is there...
    assert "@" not in settings.online_store_url  # ...with no credentials in it
    assert "Secret" not in {m["kind"] for m in render_workloads(catalog, settings)}


def _peer(namespace: str, labels: dict[str, str]) -> dict[str, object]:
    return {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
        "podSelector": {"matchLabels": labels},
    }


#: The scraper's rule: its subnets' blocks, on the metrics port (the pods' prometheus.io/port) only.
SCRAPER_RULE = {
    "from": [{"ipBlock": {"cidr": cidr}} for cidr in SCRAPER_CIDRS],
    "ports": [{"port": 8080, "protocol": "TCP"}],
}


def test_feature_server_admits_its_readers_and_writers_by_namespace_and_the_scraper(
    catalog: Catalog, settings: WorkloadSettings
) -> None:
    manifests = {object_key(m): m for m in render_workloads(catalog, settings)}
    policy = manifests["NetworkPolicy/mlplat/feature-server"]["spec"]
    rule, scraper = policy["ingress"]
    # checkout_api writes application_stream; underwriting_console reads two views.
    assert rule["from"] == [
        _peer("checkout", {"mlplat.dev/caller": "checkout-api"}),
        _peer("underwriting", {"mlplat.dev/caller": "underwriting-console"}),
    ]
    assert rule["ports"] == [{"port": 8080, "protocol": "TCP"}]
    assert scraper == SCRAPER_RULE
    pod = manifests["Deployment/mlplat/feature-server"]["spec"]["template"]["metadata"]["annotations"]
    assert [port["port"] for port in scraper["ports"]] == [int(pod["prometheus.io/port"])]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    peers = [peer for rule in policy["egress"] for peer in rule["to"]]
    assert {peer["ipBlock"]["cidr"] for peer in peers if "ipBlock" in peer} == {
        *PRIVATE_CIDRS,
        "169.254.170.23/32",
        settings.kubernetes_service_cidr,
    }
    assert [peer for peer in peers if "ipBlock" not in peer] == [KUBE_DNS]


def test_each_model_server_admits_the_callers_of_its_model_only(catalog: Catalog, settings: WorkloadSettings) -> None:
    manifests = {object_key(m): m for m in render_workloads(catalog, settings)}
    for model in ("default_risk", "fraud"):
        rule, scraper = manifests[f"NetworkPolicy/mlplat/{model_server_name(model)}"]["spec"]["ingress"]
        assert rule["from"] == [
            _peer("checkout", {"mlplat.dev/caller": "checkout-api"}),
            _peer("model-risk", {"mlplat.dev/caller": "model-validation"}),
        ]
        assert scraper == SCRAPER_RULE
        # No peer admits every namespace.
        assert all(peer.get("namespaceSelector") != {} for peer in rule["from"])


def test_a_caller_outside_the_cluster_is_admitted_through_its_gateway(catalog: Catalog) -> None:
    gateway = Caller.model_validate(
        {
            "apiVersion": "mlplat/v1",
            "kind": "Caller",
            "metadata": {"name": "partner_portal"},
            "spec": {
                "serviceAccount": {"namespace": "partners", "name": "portal"},
                "network": {"namespace": "ingress", "podLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
            },
        }
    )
    assert caller_peer(gateway) == _peer("ingress", {"app.kubernetes.io/name": "ingress-nginx"})


def test_a_model_without_callers_admits_only_the_scraper(catalog: Catalog, settings: WorkloadSettings) -> None:
    fraud = catalog.models["fraud"]
    serving = fraud.spec.serving.model_copy(update={"callers": [], "inference_callers": []})
    closed = fraud.model_copy(update={"spec": fraud.spec.model_copy(update={"serving": serving})})
    objects = [*(m for m in catalog.objects() if m is not fraud), closed]
    manifests = {object_key(m): m for m in render_workloads(Catalog(objects), settings)}
    # No caller rule at all: a rule with no peers would admit every source.
    assert manifests[f"NetworkPolicy/mlplat/{model_server_name('fraud')}"]["spec"]["ingress"] == [SCRAPER_RULE]


def test_without_scraper_blocks_nothing_but_the_callers_is_admitted(
    catalog: Catalog, settings: WorkloadSettings
) -> None:
    bare = WorkloadSettings(**{**settings.__dict__, "scraper_cidrs": ()})
    for manifest in render_workloads(catalog, bare):
        if manifest["kind"] == "NetworkPolicy":
            [rule] = manifest["spec"]["ingress"]
            assert "ipBlock" not in str(rule["from"])


@pytest.mark.parametrize(
    ("service_cidr", "block"), [("172.20.0.0/16", "172.20.0.1/32"), ("10.100.0.0/16", "10.100.0.1/32")]
)
def test_the_api_server_is_the_first_address_of_the_service_range(service_cidr: str, block: str) -> None:
    assert kubernetes_service_block(service_cidr) == block


def test_a_service_range_that_is_no_cidr_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="'pending' is not a CIDR"):
        kubernetes_service_block("pending")


def test_services_verify_callers_against_the_cluster_issuer(catalog: Catalog, settings: WorkloadSettings) -> None:
    for manifest in render_workloads(catalog, settings):
        if manifest["kind"] != "Deployment":
            continue
        [container] = manifest["spec"]["template"]["spec"]["containers"]
        env = {item["name"]: item["value"] for item in container["env"]}
        assert env["MLPLAT_AUTH"] == "on"
        assert env["MLPLAT_AUTH_ISSUER"] == settings.oidc_issuer
        assert env["MLPLAT_AUTH_AUDIENCE"] == "mlplat"
        # The keys come from the API server inside the VPC, with the pod's own token and the cluster CA.
        assert env["MLPLAT_AUTH_JWKS_URL"] == "https://kubernetes.default.svc/openid/v1/jwks"
        pod = manifest["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        [volume] = [v for v in pod["volumes"] if v["name"] == "kube-api"]
        token, ca = volume["projected"]["sources"]
        assert "audience" not in token["serviceAccountToken"]  # the API server's own
        assert ca["configMap"]["name"] == "kube-root-ca.crt"
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        mount = mounts["/var/run/secrets/mlplat/kube-api"]
        assert mount["readOnly"] is True
        assert env["MLPLAT_AUTH_JWKS_TOKEN_FILE"] == f"{mount['mountPath']}/token"
        assert env["MLPLAT_AUTH_JWKS_CA_FILE"] == f"{mount['mountPath']}/ca.crt"


def test_zone_spread_is_strict_in_production_only(catalog: Catalog, settings: WorkloadSettings) -> None:
    for strict, expected in ((True, "DoNotSchedule"), (False, "ScheduleAnyway")):
        variant = WorkloadSettings(**{**settings.__dict__, "spread_across_zones_strictly": strict})
        for pod in _pods(render_workloads(catalog, variant)):
            zone = pod["topologySpreadConstraints"][0]
            assert zone["topologyKey"] == "topology.kubernetes.io/zone"
            assert zone["whenUnsatisfiable"] == expected


def test_each_service_gets_its_own_catalog_slice_and_rolls_when_it_changes(
    catalog: Catalog, settings: WorkloadSettings
) -> None:
    manifests = {object_key(m): m for m in render_workloads(catalog, settings)}
    for key, deployment in manifests.items():
        if not key.startswith("Deployment/"):
            continue
        name = deployment["metadata"]["name"]
        (config_map,) = [m for k, m in manifests.items() if k.startswith(f"ConfigMap/mlplat/{name}-catalog-")]
        text = config_map["data"]["catalog.json"]
        # Named by its content and immutable: a new catalog is a new ConfigMap, created before the old goes.
        assert config_map["metadata"]["name"] == f"{name}-catalog-{hashlib.sha256(text.encode()).hexdigest()[:10]}"
        assert config_map["immutable"] is True
        assert logical_name(config_map) == f"configmap-{name}-catalog"
        slice_ = Catalog.from_snapshot(json.loads(text))
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["mlplat.dev/catalog-digest"] == slice_.digest
        volumes = deployment["spec"]["template"]["spec"]["volumes"]
        assert {"name": "catalog", "configMap": {"name": config_map["metadata"]["name"]}} in volumes
        if name == "feature-server":
            assert set(slice_.feature_views) == set(catalog.feature_views)
            assert not slice_.models
        else:
            (model,) = slice_.models
            assert name == model_server_name(model)


def test_schema_validation_catches_a_misspelt_field(catalog: Catalog, settings: WorkloadSettings) -> None:
    deployment = next(m for m in render_workloads(catalog, settings) if m["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["securityContxt"] = container.pop("securityContext")
    with pytest.raises(kubernetes_validate.ValidationError, match="securityContxt"):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def _env(manifests: dict[str, dict], name: str) -> dict[str, str]:
    container = manifests[f"Deployment/mlplat/{name}"]["spec"]["template"]["spec"]["containers"][0]
    return {item["name"]: item["value"] for item in container["env"]}


def test_each_service_accepts_the_environment_its_deployment_sets(
    catalog: Catalog, settings: WorkloadSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.feature_server.settings import Settings as FeatureServerSettings
    from services.model_server.settings import Settings as ModelServerSettings

    manifests = {object_key(m): m for m in render_workloads(catalog, settings)}
    feature_env = _env(manifests, "feature-server")
    for key, value in feature_env.items():
        monkeypatch.setenv(key, value)
    features = FeatureServerSettings()
    assert features.online_store_url == settings.online_store_url
    assert features.online_store_auth_secret_arn == settings.online_store_auth_secret_arn
    assert str(features.catalog) == "/etc/mlplat/catalog.json"

    for key in feature_env:
        monkeypatch.delenv(key)
    model_env = _env(manifests, model_server_name("fraud"))
    for key, value in model_env.items():
        monkeypatch.setenv(key, value)
    models = ModelServerSettings.from_environment()
    assert models.models == ("fraud",)
    assert models.artifact_root == settings.artifact_root
    assert models.kinesis_stream == settings.decision_log_url.removeprefix("kinesis://")
    assert models.online_store_auth_secret_arn == settings.online_store_auth_secret_arn
    assert models.aws_region == settings.aws_region


def _variables(settings_class: type[EnvironmentSettings]) -> set[str]:
    """Every environment variable ``settings_class`` reads: its fields' variables and their aliases."""
    found = set()
    for name, field in settings_class.model_fields.items():
        alias = field.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias or settings_class.variable(name)]
        found |= {choice for choice in choices if isinstance(choice, str) and choice.isupper()}
    return found


#: What each service must be told on the cluster; each default suits only one laptop
#: (a spec directory, the embedded store, no caller identity, artifacts and decisions on local disk).
DEPLOYED_SETTINGS = {
    FEATURE_SERVER: {
        "MLPLAT_CATALOG",
        "MLPLAT_ONLINE_STORE_URL",
        "MLPLAT_ONLINE_STORE_AUTH_SECRET_ARN",
        "AWS_REGION",
        "MLPLAT_AUTH",
        "MLPLAT_AUTH_ISSUER",
        "MLPLAT_AUTH_JWKS_URL",
        "MLPLAT_AUTH_JWKS_TOKEN_FILE",
        "MLPLAT_AUTH_JWKS_CA_FILE",
        "MLPLAT_GRACEFUL_SHUTDOWN_SECONDS",
    },
}
DEPLOYED_SETTINGS[MODEL_SERVER] = DEPLOYED_SETTINGS[FEATURE_SERVER] | {
    "MLPLAT_MODEL",
    "MLPLAT_ARTIFACT_ROOT",
    "MLPLAT_S3_ENDPOINT_URL",
    "MLPLAT_DECISION_LOG",
}


def test_every_variable_a_deployment_sets_is_one_its_service_reads(
    catalog: Catalog, settings: WorkloadSettings
) -> None:
    # pydantic-settings ignores a prefixed variable no field reads, so a misspelt or dropped
    # setting starts the service with its default instead of failing: compare the names.
    from services.feature_server.settings import Settings as FeatureServerSettings
    from services.identity import IdentitySettings
    from services.model_server.settings import Settings as ModelServerSettings

    reads = {
        FEATURE_SERVER: _variables(FeatureServerSettings) | _variables(IdentitySettings),
        MODEL_SERVER: _variables(ModelServerSettings) | _variables(IdentitySettings),
    }
    for manifest in render_workloads(catalog, settings):
        if manifest["kind"] != "Deployment":
            continue
        component = manifest["metadata"]["labels"]["app.kubernetes.io/component"]
        [container] = manifest["spec"]["template"]["spec"]["containers"]
        names = {item["name"] for item in container["env"]}
        assert names - reads[component] == set(), f"{manifest['metadata']['name']} sets variables nothing reads"
        assert DEPLOYED_SETTINGS[component] - names == set(), f"{manifest['metadata']['name']} leaves these out"


def test_the_variable_check_sees_the_services_own_names() -> None:
    from services.model_server.settings import Settings as ModelServerSettings

    variables = _variables(ModelServerSettings)
    assert {"MLPLAT_MODEL", "MLPLAT_MODELS", "AWS_REGION", "MLPLAT_DECISION_LOG"} <= variables
    assert "MLPLAT_ENVIRONMENT" not in variables


def test_a_terminating_pod_keeps_serving_then_drains_within_its_grace_period(
    catalog: Catalog, settings: WorkloadSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.feature_server.settings import Settings as FeatureServerSettings
    from services.model_server.settings import Settings as ModelServerSettings

    service_settings = {FEATURE_SERVER: FeatureServerSettings, MODEL_SERVER: ModelServerSettings}
    for manifest in render_workloads(catalog, settings):
        if manifest["kind"] != "Deployment":
            continue
        pod = manifest["spec"]["template"]["spec"]
        [container] = pod["containers"]
        # Endpoints of a terminating pod are not ready at once; kube-proxy catches up meanwhile.
        delay = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert delay >= 5
        with monkeypatch.context() as env:
            for item in container["env"]:
                env.setenv(item["name"], item["value"])
            component = manifest["metadata"]["labels"]["app.kubernetes.io/component"]
            drain = service_settings[component].from_environment().graceful_shutdown_seconds
        # The grace period runs from the preStop hook: sleep, drain, then the app's own shutdown.
        assert pod["terminationGracePeriodSeconds"] > delay + drain, manifest["metadata"]["name"]
