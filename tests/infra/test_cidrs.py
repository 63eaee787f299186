"""Carving the VPC into subnets."""

from __future__ import annotations

import ipaddress

import pytest

from infra.cidrs import SMALLEST_SUBNET_PREFIX, carve_subnets


@pytest.mark.parametrize(
    ("vpc", "private", "public", "scraper"),
    [
        (
            "10.40.0.0/16",
            ["10.40.0.0/18", "10.40.64.0/18", "10.40.128.0/18"],
            ["10.40.192.0/20", "10.40.208.0/20", "10.40.224.0/20"],
            ["10.40.240.0/22", "10.40.244.0/22", "10.40.248.0/22"],
        ),
        (
            "10.1.0.0/20",
            ["10.1.0.0/22", "10.1.4.0/22", "10.1.8.0/22"],
            ["10.1.12.0/24", "10.1.13.0/24", "10.1.14.0/24"],
            ["10.1.15.0/26", "10.1.15.64/26", "10.1.15.128/26"],
        ),
    ],
)
def test_subnets_are_carved_without_overlap(
    vpc: str, private: list[str], public: list[str], scraper: list[str]
) -> None:
    plan = carve_subnets(vpc, 3)
    assert (list(plan.private), list(plan.public), list(plan.scraper)) == (private, public, scraper)
    networks = [ipaddress.ip_network(c) for c in plan.private + plan.public + plan.scraper]
    assert not any(a.overlaps(b) for i, a in enumerate(networks) for b in networks[i + 1 :])
    assert all(n.subnet_of(ipaddress.ip_network(vpc)) for n in networks)


@pytest.mark.parametrize("prefix", range(16, 21))
def test_every_vpc_size_the_config_accepts_gives_scraper_subnets_aws_allows(prefix: int) -> None:
    plan = carve_subnets(f"10.0.0.0/{prefix}", 3)
    assert all(ipaddress.ip_network(c).prefixlen <= SMALLEST_SUBNET_PREFIX for c in plan.scraper)


def test_a_vpc_too_small_for_scraper_subnets_is_refused_naming_the_fix() -> None:
    with pytest.raises(ValueError, match="/30, smaller than the /28 AWS allows; use a block of /20 or larger"):
        carve_subnets("10.0.0.0/24", 3)
