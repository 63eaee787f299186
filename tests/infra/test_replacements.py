"""The replacement table of ``mlplat plan`` covers every resource type the program creates."""

from __future__ import annotations

from infra.render import preload_providers
from infra.rendering import Rendered
from mlplat.plan.replacements import forcing, missing_types


def test_every_type_of_every_stack_has_replacement_rules(stacks: dict[str, Rendered]) -> None:
    types = {r.type for rendered in stacks.values() for r in rendered.resources}
    assert missing_types(types) == [], (
        "add these types to mlplat/plan/replacements.py with the inputs their provider replaces on "
        "(ForceNew in the Terraform AWS provider, forceNewProperties in pulumi-kubernetes)"
    )


def test_prefixes_match_nested_paths_only_at_a_boundary() -> None:
    assert forcing("aws:eks/nodeGroup:NodeGroup", ["instanceTypes[0]", "scalingConfig.minSize"]) == (
        "instanceTypes[0]",
    )
    assert forcing("aws:rds/instance:Instance", ["engineVersion", "engine"]) == ("engine",)
    assert forcing("kubernetes:apps/v1:Deployment", ["spec.selector.matchLabels.app", "spec.template"]) == (
        "spec.selector.matchLabels.app",
    )


def test_every_type_in_the_table_names_a_class_the_provider_sdks_have() -> None:
    preload_providers()
