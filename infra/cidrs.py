"""Carving the VPC's address block into subnets."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

#: The smallest subnet AWS allows (https://docs.aws.amazon.com/vpc/latest/userguide/subnet-sizing.html).
SMALLEST_SUBNET_PREFIX = 28


@dataclass(frozen=True)
class SubnetPlan:
    """One public, one private and one scraper subnet per zone, in zone order."""

    public: tuple[str, ...]
    private: tuple[str, ...]
    scraper: tuple[str, ...]
    """Only the metrics scraper's network interfaces live here, so the services' NetworkPolicies
    can admit exactly these blocks (pods never take an address from them)."""


def carve_subnets(vpc_cidr: str, zones: int) -> SubnetPlan:
    """Split ``vpc_cidr`` for ``zones`` zones (at most 3).

    Pods take their addresses from the private subnets (VPC CNI), so each private subnet
    gets a quarter of the block. The last quarter is cut into sixteenths: the public
    subnets (NAT gateways and load balancers) take one each, and the last sixteenth is cut
    into four scraper subnets, one per zone (the scraper puts one interface in each).
    """
    if not 1 <= zones <= 3:
        raise ValueError(f"{zones} zones: the plan has room for 1 to 3")
    vpc = ipaddress.IPv4Network(vpc_cidr, strict=True)
    quarters = list(vpc.subnets(prefixlen_diff=2))
    private = tuple(str(quarter) for quarter in quarters[:zones])
    sixteenths = list(quarters[3].subnets(prefixlen_diff=2))
    public = tuple(str(block) for block in sixteenths[:zones])
    scraper_blocks = list(sixteenths[3].subnets(prefixlen_diff=2))[:zones]
    if scraper_blocks[0].prefixlen > SMALLEST_SUBNET_PREFIX:
        raise ValueError(
            f"{vpc_cidr}: its scraper subnets would be /{scraper_blocks[0].prefixlen}, smaller than the /28 AWS "
            "allows; use a block of /20 or larger"
        )
    return SubnetPlan(public=public, private=private, scraper=tuple(str(block) for block in scraper_blocks))
