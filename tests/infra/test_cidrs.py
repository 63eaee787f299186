"""Carving the VPC into subnets."""

from __future__ import annotations

import ipaddress

import pytest

from infra.cidrs import carve_subnets


@pytest.mark.parametrize(
    ("vpc", "private", "public"),
    [
        (
            "10.40.0.0/16",
            ["10.40.0.0/18", "10.40.64.0/18", "10.40.128.0/18"],
            ["10.40.192.0/20", "10.40.208.0/20", "10.40.224.0/20"],
        ),
        (
            "10.1.0.0/20",
            ["10.1.0.0/22", "10.1.4.0/22", "10.1.8.0/22"],
            ["10.1.12.0/24", "10.1.13.0/24", "10.1.14.0/24"],
        ),
    ],
)
def test_subnets_are_carved_without_overlap(vpc: str, private: list[str], public: list[str]) -> None:
    plan = carve_subnets(vpc, 3)
    assert (list(plan.private), list(plan.public)) == (private, public)
    networks = [ipaddress.ip_network(c) for c in plan.private + plan.public]
    assert not any(a.overlaps(b) for i, a in enumerate(networks) for b in networks[i + 1 :])
