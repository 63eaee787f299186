"""What a change to the repository does to a stack: resources added, removed, changed.

The Pulumi program is rendered under mocks (``python -m infra.render``) once for the
working tree and once for a base git ref, each with its own code, in a subprocess: this
package never imports Pulumi. The two renders are compared property by property.
Changes to stateful resources (databases, caches, buckets, clusters, keys) are flagged,
and a change of a property the provider can only apply by replacing the resource is
reported as a replacement.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from mlplat.errors import MlplatError, UsageError

#: Resource types that hold state a deletion or replacement would lose, and the input
#: properties whose change makes the provider replace the resource.
STATEFUL_TYPES: Mapping[str, frozenset[str]] = {
    "aws:rds/instance:Instance": frozenset(
        {"identifier", "engine", "storageEncrypted", "kmsKeyId", "availabilityZone", "dbSubnetGroupName", "username"}
    ),
    "aws:elasticache/replicationGroup:ReplicationGroup": frozenset(
        {"replicationGroupId", "engine", "atRestEncryptionEnabled", "kmsKeyId", "subnetGroupName", "port"}
    ),
    "aws:s3/bucket:Bucket": frozenset({"bucket", "bucketPrefix", "objectLockEnabled"}),
    "aws:s3/bucketV2:BucketV2": frozenset({"bucket", "bucketPrefix", "objectLockEnabled"}),
    "aws:eks/cluster:Cluster": frozenset({"name", "roleArn", "encryptionConfig", "kubernetesNetworkConfig"}),
    "aws:kms/key:Key": frozenset({"customerMasterKeySpec", "keyUsage", "multiRegion"}),
    "aws:kinesis/stream:Stream": frozenset({"name"}),
    "aws:secretsmanager/secret:Secret": frozenset({"name", "namePrefix"}),
}


class PlanError(MlplatError):
    """A render failed or the base ref cannot be checked out."""

    exit_code = 1


class Action(StrEnum):
    ADD = "add"
    REMOVE = "remove"
    UPDATE = "update"
    REPLACE = "replace"


@dataclass(frozen=True)
class RenderedResource:
    """One resource as the program declares it under mocks."""

    type: str
    name: str
    inputs: Mapping[str, Any]
    protect: bool = False

    @property
    def key(self) -> str:
        return f"{self.type}::{self.name}"

    @property
    def stateful(self) -> bool:
        return self.type in STATEFUL_TYPES


@dataclass(frozen=True)
class PropertyChange:
    """One input that differs: its path, and the values before and after."""

    path: str
    before: Any
    after: Any


@dataclass(frozen=True)
class ResourceChange:
    """What happens to one resource."""

    action: Action
    type: str
    name: str
    stateful: bool
    properties: tuple[PropertyChange, ...] = ()

    @property
    def dangerous(self) -> bool:
        """Deleting, replacing or changing a resource that holds state."""
        return self.stateful and self.action is not Action.ADD


@dataclass(frozen=True)
class Plan:
    """Every change of one stack between a base and the working tree."""

    stack: str
    base: str
    changes: tuple[ResourceChange, ...] = field(default_factory=tuple)

    @property
    def dangerous(self) -> tuple[ResourceChange, ...]:
        return tuple(change for change in self.changes if change.dangerous)

    def count(self, action: Action) -> int:
        return sum(1 for change in self.changes if change.action is action)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "base": self.base,
            "summary": {action.value: self.count(action) for action in Action},
            "dangerous": len(self.dangerous),
            "changes": [
                {
                    "action": change.action.value,
                    "type": change.type,
                    "name": change.name,
                    "stateful": change.stateful,
                    "properties": [{"path": p.path, "before": p.before, "after": p.after} for p in change.properties],
                }
                for change in self.changes
            ],
        }


def _property_changes(before: Any, after: Any, path: str = "") -> list[PropertyChange]:
    if isinstance(before, dict) and isinstance(after, dict):
        changes = []
        for key in sorted(set(before) | set(after), key=str):
            child = f"{path}.{key}" if path else str(key)
            changes += _property_changes(before.get(key), after.get(key), child)
        return changes
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        changes = []
        for index, (old, new) in enumerate(zip(before, after, strict=True)):
            changes += _property_changes(old, new, f"{path}[{index}]")
        return changes
    return [] if before == after else [PropertyChange(path, before, after)]


def _update_action(resource: RenderedResource, properties: Sequence[PropertyChange]) -> Action:
    replacing = STATEFUL_TYPES.get(resource.type, frozenset())
    roots = {p.path.split(".")[0].split("[")[0] for p in properties}
    return Action.REPLACE if roots & replacing else Action.UPDATE


def diff(stack: str, base: str, before: Sequence[RenderedResource], after: Sequence[RenderedResource]) -> Plan:
    """Compare two renders of ``stack``; changes are sorted by action, type and name."""
    old = {resource.key: resource for resource in before}
    new = {resource.key: resource for resource in after}
    changes = [ResourceChange(Action.ADD, r.type, r.name, r.stateful) for k, r in new.items() if k not in old]
    changes += [ResourceChange(Action.REMOVE, r.type, r.name, r.stateful) for k, r in old.items() if k not in new]
    for key in old.keys() & new.keys():
        properties = _property_changes(dict(old[key].inputs), dict(new[key].inputs))
        if old[key].protect != new[key].protect:
            properties.append(PropertyChange("(protect)", old[key].protect, new[key].protect))
        if properties:
            resource = new[key]
            action = _update_action(resource, properties)
            changes.append(ResourceChange(action, resource.type, resource.name, resource.stateful, tuple(properties)))
    order = {Action.REMOVE: 0, Action.REPLACE: 1, Action.UPDATE: 2, Action.ADD: 3}
    changes.sort(key=lambda c: (not c.dangerous, order[c.action], c.type, c.name))
    return Plan(stack, base, tuple(changes))


def load_render(data: Any) -> list[RenderedResource]:
    """Resources from the JSON ``python -m infra.render`` prints."""
    return [
        RenderedResource(item["type"], item["name"], item.get("inputs", {}), bool(item.get("protect", False)))
        for item in data["resources"]
    ]


def render_tree(tree: Path, stack: str, timeout: float = 600) -> list[RenderedResource]:
    """Render the program of the checkout at ``tree`` for ``stack``, with that checkout's own code."""
    if not (tree / "infra" / "render.py").is_file():
        raise PlanError(f"{tree} has no infra/render.py; the base is older than `mlplat plan`, pick a newer --base")
    with tempfile.NamedTemporaryFile(suffix=".json") as output:
        environment = {**os.environ, "PYTHONPATH": str(tree)}
        command = [sys.executable, "-m", "infra.render", "--stack", stack, "--output", output.name]
        result = subprocess.run(  # noqa: S603 - our own interpreter and module
            command, cwd=tree, env=environment, capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            tail = "\n".join(result.stderr.strip().splitlines()[-15:])
            raise PlanError(f"rendering stack {stack!r} of {tree} failed:\n{tail}")
        return load_render(json.loads(Path(output.name).read_text()))


@contextmanager
def checkout(repo: Path, ref: str) -> Iterator[Path]:
    """A temporary detached worktree of ``repo`` at ``ref``, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="mlplat-plan-") as parent:
        tree = Path(parent) / "base"
        added = _git(repo, "worktree", "add", "--detach", "--quiet", str(tree), ref)
        if added.returncode != 0:
            raise UsageError(f"cannot check out --base {ref!r}: {added.stderr.strip()}")
        try:
            yield tree
        finally:
            _git(repo, "worktree", "remove", "--force", str(tree))


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)  # noqa: S603, S607


def plan(repo: Path, stack: str, base: str) -> Plan:
    """The plan of the working tree at ``repo`` against ``base`` for ``stack``."""
    after = render_tree(repo, stack)
    with checkout(repo, base) as tree:
        before = render_tree(tree, stack)
    return diff(stack, base, before, after)


def _value(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def to_markdown(plans: Sequence[Plan]) -> str:
    """A pull-request comment: per stack, a summary, loud warnings, then each change."""
    lines = ["## mlplat plan", ""]
    for item in plans:
        summary = ", ".join(f"{item.count(action)} to {action.value}" for action in Action)
        lines += [f"### stack `{item.stack}` against `{item.base}`", "", summary, ""]
        for change in item.dangerous:
            lines.append(
                f"> [!CAUTION]\n> **{change.action.value} of stateful resource** `{change.name}` ({change.type})"
            )
        if item.dangerous:
            lines.append("")
        if not item.changes:
            lines += ["No changes.", ""]
            continue
        lines += ["| action | resource | type | changed properties |", "| --- | --- | --- | --- |"]
        for change in item.changes:
            props = "<br>".join(f"`{p.path}`: {_value(p.before)} → {_value(p.after)}" for p in change.properties)
            lines.append(f"| {change.action.value} | `{change.name}` | `{change.type}` | {props} |")
        lines.append("")
    return "\n".join(lines)
