"""Carving the VPC's address block into subnets."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass


@dataclass(frozen=True)
class SubnetPlan:
    """One public and one private subnet per zone, in zone order."""

    public: tuple[str, ...]
    private: tuple[str, ...]


def carve_subnets(vpc_cidr: str, zones: int) -> SubnetPlan:
    """Split ``vpc_cidr`` for ``zones`` zones (at most 3).

    Pods take their addresses from the private subnets (VPC CNI), so each private subnet
    gets a quarter of the block; the public subnets only hold NAT gateways and load
    balancers and share a sixteenth of the last quarter each.
    """
    if not 1 <= zones <= 3:
        raise ValueError(f"{zones} zones: the plan has room for 1 to 3")
    vpc = ipaddress.IPv4Network(vpc_cidr, strict=True)
    quarters = list(vpc.subnets(prefixlen_diff=2))
    private = tuple(str(quarter) for quarter in quarters[:zones])
    public = tuple(str(block) for block in list(quarters[3].subnets(prefixlen_diff=2))[:zones])
    return SubnetPlan(public=public, private=private)
