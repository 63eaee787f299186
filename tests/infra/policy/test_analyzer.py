"""The policy pack through the interface the Pulumi CLI uses: its Analyzer gRPC server, fed each rendered stack."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UNKNOWN_STRING_VALUE

from infra.policy.analyzer import Diagnostic, PolicyAnalyzer
from infra.policy.baseline import RULES
from infra.rendering import STACKS, Captured, Rendered

from .test_baseline import INSECURE

DEPLOYMENT = "kubernetes:apps/v1:Deployment"


@pytest.fixture(scope="module")
def analyzer() -> Iterator[PolicyAnalyzer]:
    with PolicyAnalyzer() as running:
        yield running


def _analyze(analyzer: PolicyAnalyzer, resource: Captured, inputs: dict[str, Any] | None = None) -> list[Diagnostic]:
    return analyzer.analyze(
        resource.type, resource.name, resource.inputs if inputs is None else inputs, protect=resource.protect
    )


def test_the_pack_serves_every_rule_as_a_mandatory_policy(analyzer: PolicyAnalyzer) -> None:
    info = analyzer.info()
    assert info.name == "mlplat-baseline"
    assert {p.name: p.enforcementLevel for p in info.policies} == dict.fromkeys(
        (rule.name for rule in RULES), analyzer_pb2.MANDATORY
    )


@pytest.mark.parametrize("stack", STACKS)
def test_every_resource_of_the_stack_passes_through_the_analyzer(
    analyzer: PolicyAnalyzer, stacks: dict[str, Rendered], stack: str
) -> None:
    resources = [r for r in stacks[stack].resources if r.custom]
    assert len([r for r in resources if r.type == DEPLOYMENT]) == 3  # the feature server and two models
    diagnostics = [(r.type, r.name, d.message) for r in resources for d in _analyze(analyzer, r)]
    assert diagnostics == []


@pytest.mark.parametrize("stack", STACKS)
def test_the_whole_stack_passes_the_stack_level_analysis(
    analyzer: PolicyAnalyzer, stacks: dict[str, Rendered], stack: str
) -> None:
    resources = [(r.type, r.name, r.inputs, r.protect) for r in stacks[stack].resources if r.custom]
    assert analyzer.analyze_stack(resources) == []


def _deployment(stacks: dict[str, Rendered]) -> Captured:
    return next(r for r in stacks["prod"].resources if r.type == DEPLOYMENT)


def _container_security(inputs: dict[str, Any]) -> dict[str, Any]:
    security: dict[str, Any] = inputs["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    return security


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s["capabilities"].update(drop=["NET_RAW"]), "capabilities.drop is not ['ALL']"),
        (lambda s: s["capabilities"].update(drop=["ALL", "NET_RAW"]), "capabilities.drop is not ['ALL']"),
        (lambda s: s.pop("capabilities"), "capabilities.drop is not ['ALL']"),
        (lambda s: s.update(allowPrivilegeEscalation=True), "forbid privilege escalation"),
        (lambda s: s.update(readOnlyRootFilesystem=False), "read-only root filesystem"),
    ],
)
def test_a_weakened_deployment_is_blocked_naming_it(
    analyzer: PolicyAnalyzer, stacks: dict[str, Rendered], change: Any, message: str
) -> None:
    deployment = _deployment(stacks)
    inputs = copy.deepcopy(deployment.plain)
    change(_container_security(inputs))
    found = _analyze(analyzer, deployment, inputs)
    assert [(d.policy, d.enforcement) for d in found] == [("k8s-hardened-pods", "mandatory")]
    assert message in found[0].message
    assert deployment.name in found[0].message
    assert found[0].urn.endswith(f"::{DEPLOYMENT}::{deployment.name}")


def test_a_root_pod_is_blocked(analyzer: PolicyAnalyzer, stacks: dict[str, Rendered]) -> None:
    deployment = _deployment(stacks)
    inputs = copy.deepcopy(deployment.plain)
    inputs["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] = False
    assert any("runAsNonRoot is not true" in d.message for d in _analyze(analyzer, deployment, inputs))


def test_an_unprotected_prod_database_is_blocked(analyzer: PolicyAnalyzer, stacks: dict[str, Rendered]) -> None:
    database = stacks["prod"].one("aws:rds/instance:Instance", "mlplat-prod-registry-mysql")
    assert _analyze(analyzer, database) == []
    found = analyzer.analyze(database.type, database.name, database.inputs, protect=False)
    assert [d.policy for d in found] == ["prod-protect"]
    unencrypted = {**database.plain, "storageEncrypted": False}
    assert any("RDS.3" in d.message for d in _analyze(analyzer, database, unencrypted))


@pytest.mark.parametrize(("type_", "props", "rule", "control"), INSECURE)
def test_each_insecure_setting_is_blocked_through_the_analyzer(
    analyzer: PolicyAnalyzer, type_: str, props: dict[str, Any], rule: str, control: str
) -> None:
    found = analyzer.analyze(type_, "the-resource", props, protect=False)
    assert any(d.policy == rule and control in d.message and d.enforcement == "mandatory" for d in found), found


def test_an_inline_ingress_from_anywhere_is_blocked(analyzer: PolicyAnalyzer) -> None:
    props = {"ingress": [{"cidrBlocks": ["10.0.0.0/8"], "ipv6CidrBlocks": ["::/0"]}]}
    found = analyzer.analyze("aws:ec2/securityGroup:SecurityGroup", "sg", props, protect=False)
    assert [d.policy for d in found] == ["ec2-no-world-ingress"]


def test_values_unknown_during_a_preview_are_not_violations(
    analyzer: PolicyAnalyzer, stacks: dict[str, Rendered]
) -> None:
    # In a first preview the image (an ECR repository URL) is unknown: the pod rules still run.
    deployment = _deployment(stacks)
    inputs = copy.deepcopy(deployment.plain)
    inputs["spec"]["template"]["spec"]["containers"][0]["image"] = UNKNOWN_STRING_VALUE
    assert _analyze(analyzer, deployment, inputs) == []
    # A value a rule needs that is unknown yet: a notice that the rule waits for the update, never a block.
    _container_security(inputs)["capabilities"]["drop"] = UNKNOWN_ARRAY_VALUE
    found = _analyze(analyzer, deployment, inputs)
    assert [(d.policy, d.enforcement) for d in found] == [("k8s-hardened-pods", "advisory")]
    assert "can't be known during preview" in found[0].message
