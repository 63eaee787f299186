"""What no schema checks in each rendered stack: objects that name each other agree, and the pods
pass the namespace's Pod Security level.

kubernetes-validate (``test_workloads.py``) proves each object is well formed on its own; the
API server would accept a Service selecting no pod, an autoscaler of a missing Deployment or
a mount of a file no volume holds, and the cluster would then quietly misbehave.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

import pytest

from infra.components.cluster import CLOUDWATCH_NAMESPACE
from infra.rendering import STACKS, WORKLOADS_PROJECT, Captured, Rendered

#: Every namespace has this ConfigMap, published by the API server's root CA publisher
#: (https://kubernetes.io/docs/tasks/configure-pod-container/configure-service-account/#serviceaccount-admission-controller).
ROOT_CA = {"kube-root-ca.crt": {"ca.crt"}}
#: Variables that name a file the container must find mounted.
FILE_VARIABLES = ("MLPLAT_CATALOG", "MLPLAT_AUTH_JWKS_TOKEN_FILE", "MLPLAT_AUTH_JWKS_CA_FILE")


def _objects(rendered: Rendered, kind: str) -> list[dict[str, Any]]:
    return [r.plain for r in rendered.of_project(WORKLOADS_PROJECT) if r.type.split(":")[-1] == kind]


def _by_name(rendered: Rendered, kind: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in _objects(rendered, kind)}


def _deployments(rendered: Rendered) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """Each Deployment's namespace, pod template and only container."""
    deployments = _objects(rendered, "Deployment")
    assert len(deployments) == 3  # the feature server and the two example models
    for deployment in deployments:
        template = deployment["spec"]["template"]
        [container] = template["spec"]["containers"]
        yield deployment["metadata"]["namespace"], template, container


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container["env"]}


@pytest.mark.parametrize("stack", STACKS)
def test_each_service_selects_its_pods_on_a_port_they_open(stacks: dict[str, Rendered], stack: str) -> None:
    services = _by_name(stacks[stack], "Service")
    for namespace, template, container in _deployments(stacks[stack]):
        name = template["metadata"]["labels"]["app.kubernetes.io/name"]
        service = services[(namespace, name)]["spec"]
        assert _selects(service["selector"], template["metadata"]["labels"]), name
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        assert {port["targetPort"] for port in service["ports"]} <= set(ports), name
        # The server listens where the container port says (mlplat-serve's --port).
        args = container["args"]
        assert int(args[args.index("--port") + 1]) == ports["http"], name
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert container[probe]["httpGet"]["port"] in ports, f"{name} {probe}"


@pytest.mark.parametrize("stack", STACKS)
def test_autoscalers_and_disruption_budgets_fit_their_deployments(stacks: dict[str, Rendered], stack: str) -> None:
    rendered = stacks[stack]
    deployments = _by_name(rendered, "Deployment")
    budgets = _by_name(rendered, "PodDisruptionBudget")
    for (namespace, name), autoscaler in _by_name(rendered, "HorizontalPodAutoscaler").items():
        target = autoscaler["spec"]["scaleTargetRef"]
        assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
        deployment = deployments[(namespace, target["name"])]
        pod = deployment["spec"]["template"]
        # A CPU utilization target is a share of the containers' CPU requests.
        assert all(c["resources"]["requests"].get("cpu") for c in pod["spec"]["containers"]), name
        assert "replicas" not in deployment["spec"], f"{name}: pulumi up would undo the autoscaler's count"
        fewest = autoscaler["spec"]["minReplicas"]
        assert 1 <= fewest <= autoscaler["spec"]["maxReplicas"], name
        budget = budgets[(namespace, name)]["spec"]
        assert _selects(budget["selector"]["matchLabels"], pod["metadata"]["labels"]), name
        assert allowed_disruptions(budget, fewest) >= 1, f"{name}: at {fewest} replicas no node can be drained"


def allowed_disruptions(budget: dict[str, Any], replicas: int) -> int:
    """Pods the eviction API lets go at once with ``replicas`` healthy pods (integer budgets only).

    https://kubernetes.io/docs/tasks/run-application/configure-pdb/#think-about-how-your-application-reacts-to-disruptions
    """
    if "maxUnavailable" in budget:
        return int(budget["maxUnavailable"])
    return replicas - int(budget["minAvailable"])


def test_a_budget_of_every_replica_is_seen_to_block_drains() -> None:
    assert allowed_disruptions({"minAvailable": 2}, 2) == 0
    assert allowed_disruptions({"maxUnavailable": 1}, 1) == 1


_QUANTITY = re.compile(r"^(?P<number>[0-9.]+)(?P<unit>m|Ki|Mi|Gi|Ti|k|M|G|T)?$")
_UNITS = {
    None: 1,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def quantity(text: str) -> float:
    """A Kubernetes quantity of the forms the specs and stack config accept (``500m``, ``2``, ``1Gi``)."""
    match = _QUANTITY.match(str(text))
    assert match, f"{text!r} is not a quantity this test reads"
    return float(match["number"]) * _UNITS[match["unit"]]


@pytest.mark.parametrize("stack", STACKS)
def test_no_container_requests_more_than_its_limit(stacks: dict[str, Rendered], stack: str) -> None:
    for _, template, container in _deployments(stacks[stack]):
        resources = container["resources"]
        for resource, limit in resources["limits"].items():
            assert quantity(resources["requests"][resource]) <= quantity(limit), (template["metadata"], resource)


def _files(volume: dict[str, Any], config_maps: dict[str, set[str]]) -> set[str]:
    """The files a volume holds, as the kubelet lays them out."""
    if "configMap" in volume:
        source = volume["configMap"]
        items = source.get("items")
        return {i["path"] for i in items} if items else config_maps[source["name"]]
    if "projected" in volume:
        files = set()
        for source in volume["projected"]["sources"]:
            if "serviceAccountToken" in source:
                files.add(source["serviceAccountToken"]["path"])
            if "configMap" in source:
                name = source["configMap"]["name"]
                items = source["configMap"].get("items")
                files |= {i["path"] for i in items} if items else config_maps[name]
        return files
    return set()


@pytest.mark.parametrize("stack", STACKS)
def test_every_file_a_setting_names_is_in_a_mounted_volume(stacks: dict[str, Rendered], stack: str) -> None:
    config_maps = {**ROOT_CA, **{m["metadata"]["name"]: set(m["data"]) for m in _objects(stacks[stack], "ConfigMap")}}
    for _, template, container in _deployments(stacks[stack]):
        volumes = {v["name"]: v for v in template["spec"]["volumes"]}
        mounts = {PurePosixPath(m["mountPath"]): m for m in container["volumeMounts"]}
        env = _env(container)
        for variable in FILE_VARIABLES:
            path = PurePosixPath(env[variable])
            mount = mounts.get(path.parent)
            assert mount is not None, f"{variable}={path}: nothing is mounted at {path.parent}"
            assert mount.get("readOnly") is True, f"{variable}: {mount['mountPath']} is writable"
            assert path.name in _files(volumes[mount["name"]], config_maps), f"{variable}={path}: not in its volume"


@pytest.mark.parametrize("stack", STACKS)
def test_each_pod_runs_as_a_service_account_its_pod_identity_association_names(
    stacks: dict[str, Rendered], stack: str
) -> None:
    rendered = stacks[stack]
    accounts = _by_name(rendered, "ServiceAccount")
    roles = {r.name: r for r in rendered.of_type("aws:iam/role:Role")}
    associations = {
        (a.plain["namespace"], a.plain["serviceAccount"]): a
        for a in rendered.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    }
    for namespace, template, _ in _deployments(rendered):
        account = template["spec"]["serviceAccountName"]
        assert (namespace, account) in accounts, f"{namespace}/{account}: no ServiceAccount"
        association = associations.get((namespace, account))
        assert association is not None, f"{namespace}/{account}: no Pod Identity association; pods get no AWS role"
        _assert_pod_identity_trust(roles[_role_name(association.plain["roleArn"])])


def _assert_pod_identity_trust(role: Captured) -> None:
    # https://docs.aws.amazon.com/eks/latest/userguide/pod-id-role.html: the service principal,
    # with sts:TagSession, since the agent tags the session with the pod's namespace and account.
    [statement] = json.loads(role.plain["assumeRolePolicy"])["Statement"]
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}, role.name
    assert set(statement["Action"]) == {"sts:AssumeRole", "sts:TagSession"}, role.name


def _role_name(arn: str) -> str:
    """``arn:aws:iam::<account>:role/<name>`` (the mocks leave out ``role/``)."""
    return arn.rsplit(":", 1)[-1].removeprefix("role/")


@pytest.mark.parametrize("stack", STACKS)
def test_every_pod_identity_role_trusts_only_the_account_it_is_bound_to(
    stacks: dict[str, Rendered], stack: str
) -> None:
    # Without conditions any Pod Identity association of the account, on any cluster and for any
    # service account, could take the role: a dev cluster's admin could bind a prod model's role.
    # The session tags EKS Pod Identity sets name the cluster, namespace and service account
    # (https://docs.aws.amazon.com/eks/latest/userguide/pod-id-abac.html#pod-id-abac-tags).
    rendered = stacks[stack]
    roles = {r.name: r for r in rendered.of_type("aws:iam/role:Role")}
    associations = rendered.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    # The conditions need the tags, which an association may turn off.
    assert not any(a.plain.get("disableSessionTags") for a in associations)
    bound = [(a.plain["roleArn"], a.plain["namespace"], a.plain["serviceAccount"]) for a in associations]
    bound += [
        (association["roleArn"], CLOUDWATCH_NAMESPACE, association["serviceAccount"])
        for addon in rendered.of_type("aws:eks/addon:Addon")
        for association in addon.plain.get("podIdentityAssociations", [])
    ]
    assert len(bound) == 5  # the autoscaler, the CloudWatch agent, the feature server, two models
    for arn, namespace, account in bound:
        [statement] = json.loads(roles[_role_name(arn)].plain["assumeRolePolicy"])["Statement"]
        assert statement["Condition"] == {
            "StringEquals": {
                "aws:RequestTag/eks-cluster-name": f"mlplat-{stack}",
                "aws:RequestTag/kubernetes-namespace": namespace,
                "aws:RequestTag/kubernetes-service-account": account,
            }
        }, _role_name(arn)


# --- Pod Security Standards ------------------------------------------------------------------------
#
# The controls of the Baseline and Restricted profiles, as listed at
# https://kubernetes.io/docs/concepts/security/pod-security-standards/ (fields a pod template can set).

RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """Why the Restricted profile would refuse ``pod`` (a pod spec); empty when it admits it."""
    found = [f"spec.{field}" for field in ("hostNetwork", "hostPID", "hostIPC") if pod.get(field)]
    found += [f"volume {v['name']}: {_volume_type(v)}" for v in pod.get("volumes", []) if not _allowed_volume(v)]
    pod_security = pod.get("securityContext", {})
    found += [f"sysctl {s['name']}" for s in pod_security.get("sysctls", []) if s["name"] not in SAFE_SYSCTLS]
    for container in [*pod.get("initContainers", []), *pod["containers"]]:
        found += [f"{container['name']}: {problem}" for problem in _container_violations(container, pod_security)]
    return found


def _volume_type(volume: dict[str, Any]) -> str:
    return next(key for key in volume if key != "name")


def _allowed_volume(volume: dict[str, Any]) -> bool:
    return _volume_type(volume) in RESTRICTED_VOLUMES


def _container_violations(container: dict[str, Any], pod_security: dict[str, Any]) -> Iterator[str]:
    security = container.get("securityContext", {})

    def effective(field: str) -> Any:
        return security.get(field, pod_security.get(field))

    if security.get("privileged"):
        yield "privileged"
    if any(port.get("hostPort") for port in container.get("ports", [])):
        yield "hostPort"
    if security.get("allowPrivilegeEscalation") is not False:
        yield "allowPrivilegeEscalation is not false"
    if effective("runAsNonRoot") is not True:
        yield "runAsNonRoot is not true"
    if effective("runAsUser") == 0:
        yield "runAsUser is 0"
    if (effective("seccompProfile") or {}).get("type") not in ("RuntimeDefault", "Localhost"):
        yield "seccompProfile is not RuntimeDefault or Localhost"
    capabilities = security.get("capabilities", {})
    if "ALL" not in capabilities.get("drop", []):
        yield "capabilities do not drop ALL"
    if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
        yield f"capabilities add {capabilities['add']}"
    if security.get("procMount", "Default") != "Default":
        yield "procMount"
    if (security.get("appArmorProfile") or {}).get("type") == "Unconfined":
        yield "appArmorProfile Unconfined"


@pytest.mark.parametrize("stack", STACKS)
def test_every_pod_passes_the_level_its_namespace_enforces(stacks: dict[str, Rendered], stack: str) -> None:
    levels = {
        n["metadata"]["name"]: n["metadata"]["labels"].get("pod-security.kubernetes.io/enforce")
        for n in _objects(stacks[stack], "Namespace")
    }
    for namespace, template, container in _deployments(stacks[stack]):
        assert levels[namespace] == "restricted", namespace
        assert restricted_violations(template["spec"]) == [], template["metadata"]["labels"]
        # Beyond the profile: nothing the service writes needs the image's filesystem.
        assert container["securityContext"]["readOnlyRootFilesystem"] is True


@pytest.mark.parametrize(
    ("change", "violation"),
    [
        (lambda pod: pod.update(hostNetwork=True), "spec.hostNetwork"),
        (lambda pod: pod["volumes"].append({"name": "node", "hostPath": {"path": "/"}}), "volume node: hostPath"),
        (lambda pod: pod["containers"][0]["securityContext"].update(privileged=True), "privileged"),
        (
            lambda pod: pod["containers"][0]["securityContext"].pop("allowPrivilegeEscalation"),
            "allowPrivilegeEscalation",
        ),
        (lambda pod: pod["containers"][0]["securityContext"].pop("capabilities"), "drop ALL"),
        (
            lambda pod: [
                s.pop("seccompProfile") for s in (pod["securityContext"], pod["containers"][0]["securityContext"])
            ],
            "seccomp",
        ),
        (lambda pod: pod["containers"][0]["ports"][0].update(hostPort=8080), "hostPort"),
    ],
)
def test_the_profile_check_refuses_what_the_profile_refuses(
    stacks: dict[str, Rendered], change: Any, violation: str
) -> None:
    [_, template, _] = next(_deployments(stacks["dev"]))
    pod = json.loads(json.dumps(template["spec"]))
    change(pod)
    assert any(violation in problem for problem in restricted_violations(pod)), restricted_violations(pod)
