"""The services' Kubernetes objects as the program declares them, in each rendered stack."""

from __future__ import annotations

import json
from typing import Any

import kubernetes_validate
import pytest

from infra.components.workloads import kubeconfig, placeholder, resolve
from infra.config import StackConfig
from infra.rendering import STACKS, Captured, Rendered, plain_strings, stack_config
from infra.workloads_program import PlatformMismatchError, scraper_cidr


def _integral(value: Any) -> Any:
    """Numbers cross the mocks' RPC as floats; the objects declared whole numbers."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integral(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral(item) for item in value]
    return value


def _objects(rendered: Rendered) -> list[Captured]:
    """The Kubernetes objects (not the Helm release, whose objects the chart renders on the cluster)."""
    return [r for r in rendered.resources if r.type.startswith("kubernetes:") and "helm.sh" not in r.type]


@pytest.mark.parametrize("stack", STACKS)
def test_every_object_validates_against_the_pinned_cluster_version(stacks: dict[str, Rendered], stack: str) -> None:
    version = f"{stack_config(stack).cluster.kubernetes_version}.0"
    objects = _objects(stacks[stack])
    assert len(objects) == 1 + 7 * 3  # namespace, then 7 objects for the feature server and each model
    for resource in objects:
        manifest = _integral(resource.plain)
        kubernetes_validate.validate(manifest, version, strict=True)


@pytest.mark.parametrize("stack", STACKS)
def test_every_placeholder_is_resolved_to_its_output(stacks: dict[str, Rendered], stack: str) -> None:
    for resource in _objects(stacks[stack]):
        assert not any("{{output:" in text for text in plain_strings(resource.inputs)), resource.name
    deployment = next(r for r in _objects(stacks[stack]) if r.name == "deployment-model-fraud")
    container = deployment.plain["spec"]["template"]["spec"]["containers"][0]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert container["image"].endswith(f"/mlplat-{stack}-model-server:{stack_config(stack).images.model_server}")
    assert env["MLPLAT_ONLINE_STORE_URL"].startswith("rediss://master.")
    assert env["MLPLAT_DECISION_LOG"] == f"kinesis://mlplat-{stack}-decisions"
    assert env["MLPLAT_ARTIFACT_ROOT"].startswith(f"s3://mlplat-{stack}-artifacts-")


def test_pods_are_non_root_with_read_only_root_filesystems(stacks: dict[str, Rendered]) -> None:
    for stack in STACKS:
        for resource in _objects(stacks[stack]):
            if resource.type != "kubernetes:apps/v1:Deployment":
                continue
            pod = resource.plain["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True
            for container in pod["containers"]:
                assert container["securityContext"]["readOnlyRootFilesystem"] is True
                assert container["securityContext"]["runAsNonRoot"] is True


def test_the_provider_is_built_from_cluster_identity_only(stacks: dict[str, Rendered]) -> None:
    (provider,) = [r for r in stacks["prod"].resources if r.type == "pulumi:providers:kubernetes"]
    config = json.loads(provider.plain["kubeconfig"])
    assert config["users"][0]["user"]["exec"]["command"] == "aws"
    user = config["users"][0]["user"]
    assert set(user) == {"exec"}  # no token, certificate or password: only how to get a token
    expected = kubeconfig(
        "mlplat-prod", config["clusters"][0]["cluster"]["server"], "Q0EtREFUQQ==", stack_config("prod").region
    )
    assert provider.plain["kubeconfig"] == expected


def test_strict_zone_spread_follows_the_stack(stacks: dict[str, Rendered]) -> None:
    def spread(stack: str) -> set[str]:
        return {
            r.plain["spec"]["template"]["spec"]["topologySpreadConstraints"][0]["whenUnsatisfiable"]
            for r in _objects(stacks[stack])
            if r.type == "kubernetes:apps/v1:Deployment"
        }

    assert spread("prod") == {"DoNotSchedule"}
    assert spread("dev") == {"ScheduleAnyway"}


def test_resolve_turns_placeholders_into_outputs_and_leaves_the_rest() -> None:
    manifest = {"a": f"s3://{placeholder('bucket')}/x", "b": ["plain", 3], "c": {"d": placeholder("bucket")}}
    resolved = resolve(manifest, {"bucket": "b1"})
    assert resolved["b"] == ["plain", 3]
    assert type(resolved["a"]).__name__ == "Output"


def test_latest_image_tags_are_refused() -> None:
    config = stack_config("dev").model_dump(by_alias=True)
    config["images"]["modelServer"] = "latest"
    with pytest.raises(ValueError, match="latest"):
        StackConfig.model_validate(config)


def test_scraper_blocks_are_read_one_per_zone_from_the_platform_stack() -> None:
    exported = ["10.40.240.0/22", "10.40.244.0/22", "10.40.248.0/22"]
    assert [scraper_cidr(exported, i, 3) for i in range(3)] == exported


@pytest.mark.parametrize("exported", [None, ["10.40.240.0/22"], "10.40.240.0/22"])
def test_a_platform_stack_without_one_scraper_block_per_zone_is_refused(exported: Any) -> None:
    with pytest.raises(
        PlatformMismatchError, match="not one block for each of the 3 zones; run `pulumi up` of the platform"
    ):
        scraper_cidr(exported, 0, 3)
