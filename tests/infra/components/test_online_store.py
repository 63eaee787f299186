"""The online store as each stack renders it: an AUTH token ElastiCache accepts, names that never collide."""

from __future__ import annotations

import random
import re
import string

import pytest

from infra.aws_rules import auth_token_problems
from infra.rendering import STACKS, Rendered, render_platform, stack_config
from mlplat.catalog import Catalog

PASSWORD = "random:index/randomPassword:RandomPassword"


def _generator(rendered: Rendered, stack: str) -> dict[str, object]:
    return rendered.one(PASSWORD, f"mlplat-{stack}-online-auth-token").plain


def _alphabet(generator: dict[str, object]) -> str:
    """The characters random.RandomPassword draws from with these inputs."""
    specials = str(generator["overrideSpecial"]) if generator.get("special") else ""
    return string.ascii_letters + string.digits + specials


@pytest.mark.parametrize("stack", STACKS)
def test_every_token_the_generator_can_produce_is_one_elasticache_accepts(
    stacks: dict[str, Rendered], stack: str
) -> None:
    generator = _generator(stacks[stack], stack)
    alphabet, length = _alphabet(generator), int(generator["length"])  # type: ignore[call-overload]
    # Every character the generator may pick, and a token of its length, pass the AWS rule.
    assert all(auth_token_problems(c * length) == [] for c in alphabet), alphabet
    drawn = "".join(random.Random(stack).choice(alphabet) for _ in range(length))
    assert auth_token_problems(drawn) == []
    # At least one of each kind, as AWS recommends for a strong token.
    assert all(generator[kind] == 1 for kind in ("minUpper", "minLower", "minNumeric", "minSpecial"))


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_final_snapshot_has_a_unique_suffix(stacks: dict[str, Rendered], stack: str) -> None:
    cache = stacks[stack].one("aws:elasticache/replicationGroup:ReplicationGroup", f"mlplat-{stack}-online-valkey")
    assert re.fullmatch(rf"mlplat-{stack}-online-final-[0-9a-f]{{8}}", cache.plain["finalSnapshotIdentifier"])
    suffix = stacks[stack].one("random:index/randomId:RandomId", f"mlplat-{stack}-online-final-snapshot-suffix")
    assert suffix.plain["keepers"] == {"replicationGroupId": f"mlplat-{stack}-online"}


def test_dev_keeps_no_final_snapshot(stacks: dict[str, Rendered]) -> None:
    cache = stacks["dev"].one("aws:elasticache/replicationGroup:ReplicationGroup", "mlplat-dev-online-valkey")
    assert "finalSnapshotIdentifier" not in cache.plain


GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"


@pytest.mark.parametrize(("node_type", "tiering"), [("cache.r6gd.xlarge", True), ("cache.r7g.large", None)])
def test_data_tiering_is_on_exactly_for_the_nodes_that_require_it(
    example_catalog: Catalog, node_type: str, tiering: bool | None
) -> None:
    config = stack_config("staging")
    config = config.model_copy(update={"cache": config.cache.model_copy(update={"node_type": node_type})})
    group = render_platform(example_catalog, config).one(GROUP, "mlplat-staging-online-valkey").plain
    assert (group["nodeType"], group.get("dataTieringEnabled")) == (node_type, tiering)
