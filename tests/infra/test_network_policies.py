"""Each service's real destinations and sources, derived from what its rendered Deployment is
configured to use and from the specs' callers and the rendered scraper, walked against its
rendered NetworkPolicy (which the VPC CNI enforces).

The destinations come from the program, not from the policy: DNS for every name, the Pod
Identity agent for credentials, and every host in the container's environment, resolved
the way the VPC resolves it (an interface endpoint with private DNS answers with an
address in the private subnets; anything else, S3's gateway endpoint included, is a public
address; the API server's in-cluster name is the ``kubernetes`` Service's cluster IP, which
kube-proxy translates to the control plane's ENIs in the cluster's private subnets, and both
addresses are walked). The Spark jobs that use MySQL run on EMR Serverless, outside the cluster, so no
NetworkPolicy applies to them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from infra.cidrs import carve_subnets
from infra.rendering import STACKS, WORKLOADS_PROJECT, Captured, Rendered, stack_config
from infra.workloads.manifests import (
    HTTP_PORT,
    caller_peer,
    feature_server_callers,
    model_server_callers,
    model_server_name,
)
from mlplat.catalog import Catalog

#: What EKS Pod Identity injects into every pod it serves (AWS_CONTAINER_CREDENTIALS_FULL_URI).
CREDENTIALS_URL = "http://169.254.170.23/v1/credentials"
#: A public address: where a name without an in-VPC endpoint resolves (S3's prefix list, say).
PUBLIC_ADDRESS = "52.218.0.10"
#: The regional DNS name each interface endpoint answers for, when it differs from the service name.
ENDPOINT_HOST = {"kinesis-streams": "kinesis"}
#: CoreDNS's pods, as the coredns add-on labels them, and their namespace.
KUBE_DNS_POD = (("k8s-app", "kube-dns"),)
KUBE_SYSTEM = (("kubernetes.io/metadata.name", "kube-system"),)


@dataclass(frozen=True)
class Destination:
    """Where a pod connects: an address, or pods selected by labels."""

    why: str
    port: int
    protocol: str = "TCP"
    address: str | None = None
    pod_labels: tuple[tuple[str, str], ...] = ()
    namespace_labels: tuple[tuple[str, str], ...] = ()


class Vpc:
    """Name resolution inside the rendered VPC."""

    def __init__(self, rendered: Rendered, stack: str) -> None:
        config = stack_config(stack)
        self.region = config.region
        first_private = ipaddress.ip_network(carve_subnets(config.network.vpc_cidr, 3).private[0])
        self.private_address = str(first_private.network_address + 10)
        self.private_names: set[str] = set()
        for endpoint in rendered.of_type("aws:ec2/vpcEndpoint:VpcEndpoint"):
            inputs = endpoint.plain
            if inputs["vpcEndpointType"] != "Interface":
                continue
            service = inputs["serviceName"].removeprefix(f"com.amazonaws.{self.region}.")
            if inputs["privateDnsEnabled"]:
                self.private_names.add(f"{ENDPOINT_HOST.get(service, service)}.{self.region}.amazonaws.com")
        self.endpoint_suffix = ".vpce.amazonaws.com"
        self.cache_hosts = {str(rendered.outputs["onlineStoreEndpoint"])}
        # The first address of the Service range is the `kubernetes` Service's cluster IP.
        self.kubernetes_service_address = str(ipaddress.ip_network(rendered.outputs["clusterServiceIpv4Cidr"])[1])

    def resolve(self, host: str) -> str:
        if host in self.private_names or host in self.cache_hosts or host.endswith(self.endpoint_suffix):
            return self.private_address
        return PUBLIC_ADDRESS


def destinations(env: dict[str, str], vpc: Vpc) -> list[Destination]:
    """Every connection a service with environment ``env`` opens."""
    credentials = urlsplit(CREDENTIALS_URL)
    found = [
        Destination("DNS over UDP", 53, "UDP", pod_labels=KUBE_DNS_POD, namespace_labels=KUBE_SYSTEM),
        Destination("DNS over TCP", 53, "TCP", pod_labels=KUBE_DNS_POD, namespace_labels=KUBE_SYSTEM),
        Destination("Pod Identity credentials", credentials.port or 80, address=credentials.hostname),
    ]
    store = urlsplit(env["MLPLAT_ONLINE_STORE_URL"])
    assert store.hostname
    assert store.port
    found.append(Destination("online store", store.port, address=vpc.resolve(store.hostname)))
    if "MLPLAT_ONLINE_STORE_AUTH_SECRET_ARN" in env:
        host = f"secretsmanager.{vpc.region}.amazonaws.com"
        found.append(Destination("AUTH token from Secrets Manager", 443, address=vpc.resolve(host)))
    if env.get("MLPLAT_ARTIFACT_ROOT", "").startswith("s3://"):
        endpoint = env.get("MLPLAT_S3_ENDPOINT_URL") or f"https://s3.{vpc.region}.amazonaws.com"
        host = urlsplit(endpoint).hostname
        assert host
        found.append(Destination("model artifacts from S3", 443, address=vpc.resolve(host)))
    if env.get("MLPLAT_AUTH") == "on":
        keys = urlsplit(env["MLPLAT_AUTH_JWKS_URL"])
        assert keys.hostname == "kubernetes.default.svc", keys.hostname
        port = keys.port or 443
        # Before kube-proxy's DNAT the packet is bound to the cluster IP, after it to the
        # control plane's cross-account ENIs: whichever the policy agent sees, it must pass.
        found.append(Destination("issuer keys: the kubernetes Service", port, address=vpc.kubernetes_service_address))
        found.append(Destination("issuer keys: the API server's ENIs", port, address=vpc.private_address))
    if env.get("MLPLAT_DECISION_LOG", "").startswith("kinesis://"):
        host = f"kinesis.{vpc.region}.amazonaws.com"
        found.append(Destination("decision records to Kinesis", 443, address=vpc.resolve(host)))
    return found


def allows(policy: dict[str, Any], destination: Destination, namespace: str) -> bool:
    """Whether the egress rules of ``policy`` let a selected pod reach ``destination``."""
    if "Egress" not in policy.get("policyTypes", []):
        return True
    return any(_rule_allows(rule, destination, namespace) for rule in policy.get("egress", []))


def _rule_allows(rule: dict[str, Any], destination: Destination, namespace: str) -> bool:
    ports = rule.get("ports")
    if ports and not any(
        int(p["port"]) == destination.port and p.get("protocol", "TCP") == destination.protocol for p in ports
    ):
        return False
    peers = rule.get("to")
    return not peers or any(_peer_matches(peer, destination, namespace) for peer in peers)


def _peer_matches(peer: dict[str, Any], destination: Destination, namespace: str) -> bool:
    if "ipBlock" in peer:
        if destination.address is None:
            return False
        address = ipaddress.ip_address(destination.address)
        block = peer["ipBlock"]
        excluded = any(address in ipaddress.ip_network(cidr) for cidr in block.get("except", []))
        return address in ipaddress.ip_network(block["cidr"]) and not excluded
    if not destination.pod_labels:
        return False
    namespace_labels = dict(destination.namespace_labels)
    if "namespaceSelector" in peer:
        if not _selects(peer["namespaceSelector"], namespace_labels):
            return False
    elif namespace_labels.get("kubernetes.io/metadata.name") != namespace:
        return False
    return _selects(peer.get("podSelector", {}), dict(destination.pod_labels))


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.get("matchLabels", {}).items())


def _services(rendered: Rendered) -> list[tuple[Captured, Captured]]:
    objects = rendered.of_project(WORKLOADS_PROJECT)
    policies = {
        r.plain["metadata"]["name"]: r for r in objects if r.type == "kubernetes:networking.k8s.io/v1:NetworkPolicy"
    }
    deployments = [r for r in objects if r.type == "kubernetes:apps/v1:Deployment"]
    assert deployments
    assert len(policies) == len(deployments)
    return [(d, policies[d.plain["metadata"]["name"]]) for d in deployments]


@pytest.mark.parametrize("stack", STACKS)
def test_every_service_reaches_each_of_its_destinations_and_nothing_public(
    stacks: dict[str, Rendered], stack: str
) -> None:
    vpc = Vpc(stacks[stack], stack)
    walked = 0
    for deployment, policy in _services(stacks[stack]):
        pod = deployment.plain["spec"]["template"]
        namespace = deployment.plain["metadata"]["namespace"]
        spec = policy.plain["spec"]
        assert _selects(spec["podSelector"], pod["metadata"]["labels"]), policy.name
        env = {item["name"]: item["value"] for item in pod["spec"]["containers"][0]["env"]}
        blocked = [d.why for d in destinations(env, vpc) if not allows(spec, d, namespace)]
        assert blocked == [], f"{deployment.name}: its NetworkPolicy blocks {blocked}"
        for port in (443, 80, 3306):
            assert not allows(spec, Destination("the internet", port, address=PUBLIC_ADDRESS), namespace)
        walked += 1
    assert walked == 3  # the feature server and the two example models


def test_the_model_servers_reach_s3_and_kinesis_through_addresses_inside_the_vpc(stacks: dict[str, Rendered]) -> None:
    vpc = Vpc(stacks["prod"], "prod")
    fraud = next(d for d, _ in _services(stacks["prod"]) if d.name == "deployment-model-fraud")
    env = {item["name"]: item["value"] for item in fraud.plain["spec"]["template"]["spec"]["containers"][0]["env"]}
    by_why = {d.why: d for d in destinations(env, vpc)}
    assert by_why["model artifacts from S3"].address == vpc.private_address
    assert by_why["decision records to Kinesis"].address == vpc.private_address
    assert env["MLPLAT_S3_ENDPOINT_URL"] == stacks["prod"].outputs["s3EndpointUrl"]


def test_the_walk_catches_a_policy_that_forgets_the_pod_identity_agent(stacks: dict[str, Rendered]) -> None:
    vpc = Vpc(stacks["dev"], "dev")
    deployment, policy = _services(stacks["dev"])[0]
    spec = dict(policy.plain["spec"])
    spec["egress"] = [rule for rule in spec["egress"] if "169.254.170.23/32" not in str(rule)]
    env = {item["name"]: item["value"] for item in deployment.plain["spec"]["template"]["spec"]["containers"][0]["env"]}
    blocked = [d.why for d in destinations(env, vpc) if not allows(spec, d, "mlplat")]
    assert blocked == ["Pod Identity credentials"]


def test_every_service_fetches_the_issuer_keys_from_the_api_server(stacks: dict[str, Rendered]) -> None:
    vpc = Vpc(stacks["prod"], "prod")
    assert vpc.kubernetes_service_address == "172.20.0.1"
    for deployment, _ in _services(stacks["prod"]):
        env = {i["name"]: i["value"] for i in deployment.plain["spec"]["template"]["spec"]["containers"][0]["env"]}
        whys = {d.why for d in destinations(env, vpc)}
        assert {"issuer keys: the kubernetes Service", "issuer keys: the API server's ENIs"} <= whys, deployment.name
        assert env["MLPLAT_AUTH_ISSUER"] == stacks["prod"].outputs["clusterOidcIssuer"]


def test_the_walk_catches_a_policy_that_forgets_the_kubernetes_service(stacks: dict[str, Rendered]) -> None:
    vpc = Vpc(stacks["dev"], "dev")
    deployment, policy = _services(stacks["dev"])[0]
    spec = dict(policy.plain["spec"])
    spec["egress"] = [rule for rule in spec["egress"] if "172.20.0.1/32" not in str(rule)]
    assert len(spec["egress"]) == len(policy.plain["spec"]["egress"]) - 1
    env = {item["name"]: item["value"] for item in deployment.plain["spec"]["template"]["spec"]["containers"][0]["env"]}
    blocked = [d.why for d in destinations(env, vpc) if not allows(spec, d, "mlplat")]
    assert blocked == ["issuer keys: the kubernetes Service"]


@pytest.mark.parametrize("stack", STACKS)
def test_no_service_reaches_the_vpc_outside_its_private_subnets(stacks: dict[str, Rendered], stack: str) -> None:
    # Every in-VPC destination (interface endpoints, the online store, the API server's ENIs)
    # sits in the private subnets; the rest of the VPC holds load balancers, NAT gateways and
    # the scraper, which no service dials.
    plan = carve_subnets(stack_config(stack).network.vpc_cidr, 3)
    spare = list(ipaddress.ip_network(plan.scraper[-1]).supernet(prefixlen_diff=2).subnets(prefixlen_diff=2))[-1]
    outside = {
        "a load balancer in a public subnet": plan.public[0],
        "a scraper interface": plan.scraper[0],
        "the unused block beside the scraper subnets": str(spare),
    }
    for deployment, policy in _services(stacks[stack]):
        port = urlsplit(_env(deployment)["MLPLAT_ONLINE_STORE_URL"]).port
        assert port
        reached = [
            f"{why} on {each}"
            for why, block in outside.items()
            for each in (443, port)
            if allows(
                policy.plain["spec"],
                Destination(why, each, address=str(ipaddress.ip_network(block).network_address + 10)),
                "mlplat",
            )
        ]
        assert reached == [], f"{deployment.name} reaches {reached}"


@pytest.mark.parametrize("stack", STACKS)
def test_the_private_blocks_are_the_subnets_of_every_in_vpc_destination(
    stacks: dict[str, Rendered], stack: str
) -> None:
    # The workloads stack carves the blocks from the config; the platform stack's resources decide
    # where the endpoints, the online store and the API server's ENIs really are.
    rendered = stacks[stack]
    blocks = {f"{s.name}-id": s.plain["cidrBlock"] for s in rendered.of_type("aws:ec2/subnet:Subnet")}
    placed = [
        *(e.plain["subnetIds"] for e in rendered.of_type("aws:ec2/vpcEndpoint:VpcEndpoint") if "subnetIds" in e.plain),
        *(g.plain["subnetIds"] for g in rendered.of_type("aws:elasticache/subnetGroup:SubnetGroup")),
        *(c.plain["vpcConfig"]["subnetIds"] for c in rendered.of_type("aws:eks/cluster:Cluster")),
    ]
    destinations = {blocks[subnet] for ids in placed for subnet in ids}
    for _, policy in _services(rendered):
        https = [rule for rule in policy.plain["spec"]["egress"] if {"port": 443, "protocol": "TCP"} in rule["ports"]]
        allowed = {peer["ipBlock"]["cidr"] for rule in https for peer in rule["to"]} - {
            ipaddress.ip_network(rendered.outputs["clusterServiceIpv4Cidr"])[1].exploded + "/32"
        }
        assert allowed == destinations, policy.name


def _env(deployment: Captured) -> dict[str, str]:
    return {
        item["name"]: item["value"] for item in deployment.plain["spec"]["template"]["spec"]["containers"][0]["env"]
    }


# --- ingress: who reaches each service ------------------------------------------------------------

#: Ports a scraper must not reach even from its own subnets (other services' usual ports).
OTHER_PORTS = (22, 80, 443, 8081, 9090)


def admits(policy: dict[str, Any], source: Destination, namespace: str) -> bool:
    """Whether the ingress rules of ``policy`` let ``source`` (an address or labelled pods) reach a selected pod."""
    if "Ingress" not in policy.get("policyTypes", []):
        return True
    return any(_rule_admits(rule, source, namespace) for rule in policy.get("ingress", []))


def _rule_admits(rule: dict[str, Any], source: Destination, namespace: str) -> bool:
    return _rule_allows({"ports": rule.get("ports"), "to": rule.get("from")}, source, namespace)


def scraper_sources(rendered: Rendered, port: int) -> list[Destination]:
    """The scraper's interfaces: an address in each subnet the rendered scraper was given."""
    [scraper] = rendered.of_type("aws:amp/scraper:Scraper")
    subnets = {f"{s.name}-id": s.plain for s in rendered.of_type("aws:ec2/subnet:Subnet")}
    blocks = [ipaddress.ip_network(subnets[i]["cidrBlock"]) for i in scraper.plain["source"]["eks"]["subnetIds"]]
    return [Destination(f"scraper ENI in {block}", port, address=str(block.network_address + 10)) for block in blocks]


def caller_sources(catalog: Catalog, deployment: Captured) -> list[Destination]:
    """The pods of every caller the specs grant something on this service, on its HTTP port."""
    labels = deployment.plain["spec"]["template"]["metadata"]["labels"]
    if labels["app.kubernetes.io/component"] == "feature-server":
        callers = feature_server_callers(catalog)
    else:
        [model] = [
            m for m in catalog.models.values() if model_server_name(m.metadata.name) == labels["app.kubernetes.io/name"]
        ]
        callers = model_server_callers(model)
    found = []
    for name in sorted(callers):
        peer = caller_peer(catalog.callers[name])
        found.append(
            Destination(
                f"caller {name}",
                HTTP_PORT,
                pod_labels=tuple(peer["podSelector"]["matchLabels"].items()),
                namespace_labels=tuple(peer["namespaceSelector"]["matchLabels"].items()),
            )
        )
    return found


def _metrics_port(deployment: Captured) -> int:
    annotations = deployment.plain["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    return int(annotations["prometheus.io/port"])


def test_the_scraper_scrapes_every_walked_service_on_its_port_annotation(stacks: dict[str, Rendered]) -> None:
    # What the walk below calls "the metrics port" is what the scrape configuration dials.
    rendered = stacks["prod"]
    [scraper] = rendered.of_type("aws:amp/scraper:Scraper")
    jobs = yaml.safe_load(scraper.plain["scrapeConfiguration"])["scrape_configs"]
    kept, ports = set(), set()
    for job in jobs:
        for relabel in job["relabel_configs"]:
            if relabel.get("action") == "keep" and "component" in relabel["source_labels"][0]:
                kept.add(relabel["regex"])
            if relabel.get("target_label") == "__address__":
                ports.add(relabel["source_labels"][1])
    components = {
        d.plain["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] for d, _ in _services(rendered)
    }
    assert components == kept
    assert ports == {"__meta_kubernetes_pod_annotation_prometheus_io_port"}


@pytest.mark.parametrize("stack", STACKS)
def test_every_service_admits_its_callers_and_the_scraper_on_the_metrics_port_only(
    stacks: dict[str, Rendered], example_catalog: Catalog, stack: str
) -> None:
    rendered = stacks[stack]
    for deployment, policy in _services(rendered):
        spec, namespace = policy.plain["spec"], deployment.plain["metadata"]["namespace"]
        port = _metrics_port(deployment)
        scrapers = scraper_sources(rendered, port)
        assert len(scrapers) == 3
        sources = [*caller_sources(example_catalog, deployment), *scrapers]
        refused = [s.why for s in sources if not admits(spec, s, namespace)]
        assert refused == [], f"{deployment.name}: its NetworkPolicy refuses {refused}"
        for scraper in scrapers:
            for other in OTHER_PORTS:
                assert not admits(spec, Destination(scraper.why, other, address=scraper.address), namespace)
            assert not admits(spec, Destination(scraper.why, port, "UDP", address=scraper.address), namespace)


@pytest.mark.parametrize("stack", STACKS)
def test_no_address_outside_the_scraper_subnets_reaches_a_service(stacks: dict[str, Rendered], stack: str) -> None:
    rendered = stacks[stack]
    plan = carve_subnets(stack_config(stack).network.vpc_cidr, 3)
    spare = list(ipaddress.ip_network(plan.scraper[-1]).supernet(prefixlen_diff=2).subnets(prefixlen_diff=2))[-1]
    outsiders = {
        "a pod or node in a private subnet": str(ipaddress.ip_network(plan.private[0]).network_address + 10),
        "a load balancer in a public subnet": str(ipaddress.ip_network(plan.public[0]).network_address + 10),
        "the unused block beside the scraper subnets": str(spare.network_address + 10),
        "the internet": PUBLIC_ADDRESS,
    }
    for deployment, policy in _services(rendered):
        port = _metrics_port(deployment)
        admitted = [
            why
            for why, address in outsiders.items()
            if admits(policy.plain["spec"], Destination(why, port, address=address), "mlplat")
        ]
        assert admitted == [], f"{deployment.name} admits {admitted}"


def test_the_walk_catches_a_policy_that_forgets_the_scraper(stacks: dict[str, Rendered]) -> None:
    deployment, policy = _services(stacks["dev"])[0]
    spec = dict(policy.plain["spec"])
    spec["ingress"] = [rule for rule in spec["ingress"] if "ipBlock" not in str(rule)]
    scrapers = scraper_sources(stacks["dev"], _metrics_port(deployment))
    assert [s.why for s in scrapers if not admits(spec, s, "mlplat")] == [s.why for s in scrapers]


def test_the_workloads_stack_admits_the_blocks_the_platform_stack_exports(stacks: dict[str, Rendered]) -> None:
    for rendered in stacks.values():
        exported = rendered.outputs["scraperSubnetCidrs"]
        for _, policy in _services(rendered):
            blocks = [
                peer["ipBlock"]["cidr"]
                for rule in policy.plain["spec"]["ingress"]
                for peer in rule["from"]
                if "ipBlock" in peer
            ]
            assert blocks == exported, policy.name
