"""The VPC: three zones, public, private and scraper subnets, NAT, VPC endpoints, flow logs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from infra import iam_policies
from infra.cidrs import carve_subnets
from infra.components.component import Component
from infra.components.keys import EncryptionKey

#: Interface endpoints keep image pulls, role assumption, secret reads, decision records and
#: log shipping off the NAT gateways (cheaper) and off the internet. With private DNS their
#: regional names resolve to addresses inside the VPC, which is what lets the pods'
#: NetworkPolicies allow HTTPS to the VPC's CIDR and nothing beyond it.
INTERFACE_ENDPOINTS = ("ecr.api", "ecr.dkr", "sts", "secretsmanager", "logs", "kinesis-streams")


@dataclass(frozen=True)
class NetworkArgs:
    """The VPC's shape."""

    vpc_cidr: str
    zones: Sequence[str]
    region: str
    nat_gateways: Literal["single", "perAz"]
    """``perAz``: a NAT per zone, so a zone outage keeps the other zones' egress. ``single``: one NAT for all (dev)."""
    logs_key: EncryptionKey
    """Key encrypting the flow log group."""
    flow_log_retention_days: int
    tags: Mapping[str, str]


class Network(Component):
    """A three-zone VPC whose workloads live in private subnets and whose metrics scraper has subnets of its own."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("Network", name, args.tags, opts)
        self._args = args
        self.vpc = aws.ec2.Vpc(
            self.child_name("vpc"),
            cidr_block=args.vpc_cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={**self.tags, "Name": name},
            opts=self.child_opts(),
        )
        self._lock_default_security_group()
        plan = carve_subnets(args.vpc_cidr, len(args.zones))
        self.public_subnets = self._subnets("public", plan.public, public=True)
        self.private_subnets = self._subnets("private", plan.private, public=False)
        self.public_subnet_ids = [s.id for s in self.public_subnets]
        self.private_subnet_ids = [s.id for s in self.private_subnets]
        self.scraper_subnets = self._scraper_subnets(plan.scraper)
        self.scraper_subnet_ids = [s.id for s in self.scraper_subnets]
        self.scraper_zones = tuple(self._args.zones)
        nats = self._nat_gateways()
        self.private_route_tables = self._private_routes(nats)
        self._public_routes()
        self._endpoints()
        self._flow_logs()
        self.register_outputs({"vpcId": self.vpc.id})

    def _lock_default_security_group(self) -> None:
        # Adopting the default group with no rules removes its allow-all rules (FSBP EC2.2).
        aws.ec2.DefaultSecurityGroup(
            self.child_name("default-sg"),
            vpc_id=self.vpc.id,
            tags={**self.tags, "Name": f"{self.name}-default-unused"},
            opts=self.child_opts(),
        )

    def _subnets(self, tier: str, cidrs: Sequence[str], *, public: bool) -> list[aws.ec2.Subnet]:
        # Load balancer controllers find subnets by these role tags.
        role = {"kubernetes.io/role/elb": "1"} if public else {"kubernetes.io/role/internal-elb": "1"}
        return [
            aws.ec2.Subnet(
                self.child_name(f"{tier}-{zone}"),
                vpc_id=self.vpc.id,
                cidr_block=cidr,
                availability_zone=zone,
                # No public IPs on launch even in public subnets (FSBP EC2.15); NAT and LBs get their own.
                map_public_ip_on_launch=False,
                tags={**self.tags, **role, "Name": f"{self.name}-{tier}-{zone}"},
                opts=self.child_opts(),
            )
            for zone, cidr in zip(self._args.zones, cidrs, strict=True)
        ]

    def _scraper_subnets(self, cidrs: Sequence[str]) -> list[aws.ec2.Subnet]:
        # The Managed Prometheus scraper puts one network interface in each subnet it is given
        # and scrapes the pods from there (AMP user guide, "Ingest metrics with AWS managed
        # collectors": https://docs.aws.amazon.com/prometheus/latest/userguide/AMP-collector.html).
        # Subnets of its own let the NetworkPolicies admit exactly its addresses: pods and
        # nodes never take one from these blocks. No role tags: no load balancer goes here.
        subnets = [
            aws.ec2.Subnet(
                self.child_name(f"scraper-{zone}"),
                vpc_id=self.vpc.id,
                cidr_block=cidr,
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={**self.tags, "Name": f"{self.name}-scraper-{zone}"},
                opts=self.child_opts(),
            )
            for zone, cidr in zip(self._args.zones, cidrs, strict=True)
        ]
        # Only the VPC's local route: the scraper reaches pods inside the VPC and writes to the
        # workspace over AWS's network, never through a NAT or the internet.
        table = aws.ec2.RouteTable(
            self.child_name("scraper-routes"), vpc_id=self.vpc.id, tags=self.tags, opts=self.child_opts()
        )
        for subnet, zone in zip(subnets, self._args.zones, strict=True):
            aws.ec2.RouteTableAssociation(
                self.child_name(f"scraper-{zone}"), subnet_id=subnet.id, route_table_id=table.id, opts=self.child_opts()
            )
        self.scraper_route_table = table
        return subnets

    def _nat_gateways(self) -> list[aws.ec2.NatGateway]:
        self.internet_gateway = aws.ec2.InternetGateway(
            self.child_name("igw"), vpc_id=self.vpc.id, tags=self.tags, opts=self.child_opts()
        )
        count = len(self.public_subnets) if self._args.nat_gateways == "perAz" else 1
        nats = []
        for subnet, zone in list(zip(self.public_subnets, self._args.zones, strict=True))[:count]:
            eip = aws.ec2.Eip(self.child_name(f"nat-ip-{zone}"), domain="vpc", tags=self.tags, opts=self.child_opts())
            nats.append(
                aws.ec2.NatGateway(
                    self.child_name(f"nat-{zone}"),
                    subnet_id=subnet.id,
                    allocation_id=eip.id,
                    tags={**self.tags, "Name": f"{self.name}-nat-{zone}"},
                    opts=self.child_opts(depends_on=[self.internet_gateway]),
                )
            )
        return nats

    def _public_routes(self) -> None:
        table = aws.ec2.RouteTable(
            self.child_name("public-routes"),
            vpc_id=self.vpc.id,
            routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": self.internet_gateway.id}],
            tags=self.tags,
            opts=self.child_opts(),
        )
        self.public_route_table = table
        for subnet, zone in zip(self.public_subnets, self._args.zones, strict=True):
            aws.ec2.RouteTableAssociation(
                self.child_name(f"public-{zone}"), subnet_id=subnet.id, route_table_id=table.id, opts=self.child_opts()
            )

    def _private_routes(self, nats: Sequence[aws.ec2.NatGateway]) -> list[aws.ec2.RouteTable]:
        tables = []
        for index, (subnet, zone) in enumerate(zip(self.private_subnets, self._args.zones, strict=True)):
            nat = nats[index % len(nats)]
            table = aws.ec2.RouteTable(
                self.child_name(f"private-routes-{zone}"),
                vpc_id=self.vpc.id,
                routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nat.id}],
                tags=self.tags,
                opts=self.child_opts(),
            )
            aws.ec2.RouteTableAssociation(
                self.child_name(f"private-{zone}"), subnet_id=subnet.id, route_table_id=table.id, opts=self.child_opts()
            )
            tables.append(table)
        return tables

    def _endpoints(self) -> None:
        aws.ec2.VpcEndpoint(
            self.child_name("s3"),
            vpc_id=self.vpc.id,
            service_name=f"com.amazonaws.{self._args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[t.id for t in self.private_route_tables],
            tags=self.tags,
            opts=self.child_opts(),
        )
        endpoint_sg = aws.ec2.SecurityGroup(
            self.child_name("endpoints-sg"),
            vpc_id=self.vpc.id,
            description="HTTPS from inside the VPC to interface endpoints",
            tags=self.tags,
            opts=self.child_opts(),
        )
        aws.vpc.SecurityGroupIngressRule(
            self.child_name("endpoints-https"),
            security_group_id=endpoint_sg.id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4=self.vpc.cidr_block,
            description="HTTPS from the VPC",
            tags=self.tags,
            opts=self.child_opts(),
        )
        for service in INTERFACE_ENDPOINTS:
            aws.ec2.VpcEndpoint(
                self.child_name(service.replace(".", "-")),
                vpc_id=self.vpc.id,
                service_name=f"com.amazonaws.{self._args.region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=self.private_subnet_ids,
                security_group_ids=[endpoint_sg.id],
                tags=self.tags,
                opts=self.child_opts(),
            )
        # S3 for pods: the gateway endpoint routes to S3's public prefix list, which a
        # NetworkPolicy cannot name. An interface endpoint has addresses in the VPC; without
        # private DNS the bulk S3 traffic (images, Spark) keeps the free gateway, and pods
        # that need S3 are pointed at this endpoint's own name (s3_endpoint_url).
        s3_interface = aws.ec2.VpcEndpoint(
            self.child_name("s3-interface"),
            vpc_id=self.vpc.id,
            service_name=f"com.amazonaws.{self._args.region}.s3",
            vpc_endpoint_type="Interface",
            private_dns_enabled=False,
            subnet_ids=self.private_subnet_ids,
            security_group_ids=[endpoint_sg.id],
            tags=self.tags,
            opts=self.child_opts(),
        )
        self.s3_endpoint_url = s3_interface.dns_entries.apply(s3_interface_url)

    def _flow_logs(self) -> None:
        group = self.log_group(
            "flow-logs",
            f"/mlplat/{self.name}/vpc-flow-logs",
            self._args.logs_key.arn,
            self._args.flow_log_retention_days,
        )
        role = aws.iam.Role(
            self.child_name("flow-logs-role"),
            assume_role_policy=aws.get_caller_identity_output().account_id.apply(
                lambda account: iam_policies.assume_role("vpc-flow-logs.amazonaws.com", source_account=account)
            ),
            tags=self.tags,
            opts=self.child_opts(),
        )
        aws.iam.RolePolicy(
            self.child_name("flow-logs-write"),
            role=role.id,
            policy=group.arn.apply(lambda arn: iam_policies.document(*iam_policies.write_logs(arn))),
            opts=self.child_opts(),
        )
        aws.ec2.FlowLog(
            self.child_name("flow-log"),
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=group.arn,
            iam_role_arn=role.arn,
            tags=self.tags,
            opts=self.child_opts(),
        )


def s3_interface_url(dns_entries: Sequence[aws.ec2.outputs.VpcEndpointDnsEntry]) -> str:
    """The SDK endpoint URL of an S3 interface endpoint: ``https://bucket.vpce-<id>.s3.<region>.vpce.amazonaws.com``.

    The first DNS entry is the regional wildcard ``*.vpce-<id>.s3.<region>.vpce.amazonaws.com``;
    SDKs take it with ``bucket`` in place of the wildcard
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/privatelink-interface-endpoints.html).
    """
    name = str(dns_entries[0].dns_name) if dns_entries else ""
    if not name.startswith("*."):
        raise ValueError(f"S3 interface endpoint DNS name {name!r} is not the regional wildcard '*.vpce-...'")
    return "https://bucket." + name.removeprefix("*.")
