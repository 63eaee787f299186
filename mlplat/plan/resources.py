"""Resource by resource, what a change of the repository does to one stack.

Two renders of the program (base and working tree) are compared by type and logical
name. Each changed resource gets one consequence: replaced (the provider must create a
new one, see :mod:`mlplat.plan.replacements`), updated in place, its pods rolled (a
Deployment whose pod template changed), added or removed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mlplat.plan import replacements
from mlplat.plan.structure import Change, changes

#: The input whose change makes a workload's pods restart.
_POD_TEMPLATE = "spec.template"
_ROLLING_TYPES = frozenset({"kubernetes:apps/v1:Deployment"})


class Action(StrEnum):
    """What happens to one resource, in the order a reviewer reads them."""

    REPLACE = "replace"
    UPDATE = "update"
    ROLL = "roll"
    ADD = "add"
    REMOVE = "remove"


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


@dataclass(frozen=True)
class PropertyChange:
    """One input that differs: its path, and the values before and after."""

    path: str
    before: Any
    after: Any


@dataclass(frozen=True)
class ResourceChange:
    """What happens to one resource, and why."""

    action: Action
    type: str
    name: str
    stateful: bool
    properties: tuple[PropertyChange, ...] = ()
    forcing: tuple[str, ...] = ()
    """The changed inputs that force the replacement."""
    notes: tuple[str, ...] = ()
    """What a reviewer must know beyond the properties (a name collision, a delete first)."""

    @property
    def dangerous(self) -> bool:
        """Deleting or replacing a resource that holds state, or changing one in place."""
        return self.stateful and self.action is not Action.ADD

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action.value,
            "type": self.type,
            "name": self.name,
            "stateful": self.stateful,
            "forcing": list(self.forcing),
            "notes": list(self.notes),
            "properties": [{"path": p.path, "before": p.before, "after": p.after} for p in self.properties],
        }


@dataclass(frozen=True)
class Plan:
    """Every resource change of one stack between a base and the working tree."""

    stack: str
    base: str
    changes: tuple[ResourceChange, ...] = field(default_factory=tuple)
    unknown_types: tuple[str, ...] = ()
    """Types whose replacement rules are unknown: their updates may be replacements."""

    @property
    def dangerous(self) -> tuple[ResourceChange, ...]:
        return tuple(change for change in self.changes if change.dangerous)

    def of(self, action: Action) -> tuple[ResourceChange, ...]:
        return tuple(change for change in self.changes if change.action is action)

    def count(self, action: Action) -> int:
        return len(self.of(action))

    def as_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "base": self.base,
            "summary": {action.value: self.count(action) for action in Action},
            "dangerous": len(self.dangerous),
            "unknownTypes": list(self.unknown_types),
            "changes": [change.as_dict() for change in self.changes],
        }


def _stateful(type_: str) -> bool:
    found = replacements.rule(type_)
    return found is not None and found.stateful


def _properties(old: RenderedResource, new: RenderedResource) -> list[PropertyChange]:
    found: list[Change] = changes(dict(old.inputs), dict(new.inputs))
    properties = [PropertyChange(c.path, c.before, c.after) for c in found]
    if old.protect != new.protect:
        properties.append(PropertyChange("(protect)", old.protect, new.protect))
    return properties


def _replacement_notes(resource: RenderedResource) -> tuple[str, ...]:
    rule = replacements.rule(resource.type)
    if rule is None:
        return ()
    if rule.delete_first:
        return ("deleted before its replacement is created (fixed name): absent for a moment",)
    name = _value_at(resource.inputs, rule.name) if rule.name else None
    if isinstance(name, str):
        return (
            f"fixed name {name!r}: the replacement is created before the old one is deleted and collides; "
            "rename it or set deleteBeforeReplace",
        )
    return ()


def _value_at(inputs: Mapping[str, Any], path: str) -> Any:
    value: Any = inputs
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _major(version: Any, parts: int) -> list[str]:
    return str(version).split(".")[:parts]


#: In-place updates a reviewer must hear about: (type, input) -> (version parts that make
#: a major version, what the update does). MySQL's majors are 5.7, 8.0, 8.4; Redis's 6, 7.
_UPDATE_NOTES = {
    ("aws:rds/instance:Instance", "engineVersion"): (
        2,
        "major engine upgrade: needs allowMajorVersionUpgrade, and the database is unavailable while it runs",
    ),
    ("aws:elasticache/replicationGroup:ReplicationGroup", "engineVersion"): (
        1,
        "major engine upgrade: nodes restart one by one, and it cannot be rolled back",
    ),
}


def _update_notes(type_: str, properties: Sequence[PropertyChange]) -> tuple[str, ...]:
    notes = []
    for p in properties:
        rule = _UPDATE_NOTES.get((type_, p.path))
        if rule is not None and _major(p.before, rule[0]) != _major(p.after, rule[0]):
            notes.append(rule[1])
    return tuple(notes)


def _changed(old: RenderedResource, new: RenderedResource) -> ResourceChange | None:
    properties = _properties(old, new)
    if not properties:
        return None
    forcing = replacements.forcing(new.type, [p.path for p in properties])
    stateful = _stateful(new.type)
    if forcing:
        notes = _replacement_notes(new)
        return ResourceChange(Action.REPLACE, new.type, new.name, stateful, tuple(properties), forcing, notes)
    rolls = new.type in _ROLLING_TYPES and any(p.path.startswith(_POD_TEMPLATE) for p in properties)
    action = Action.ROLL if rolls else Action.UPDATE
    notes = _update_notes(new.type, properties)
    return ResourceChange(action, new.type, new.name, stateful, tuple(properties), notes=notes)


_ORDER = {action: index for index, action in enumerate(Action)}


def diff(stack: str, base: str, before: Sequence[RenderedResource], after: Sequence[RenderedResource]) -> Plan:
    """Compare two renders of ``stack``: stateful replacements first, then by action, type and name."""
    old = {resource.key: resource for resource in before}
    new = {resource.key: resource for resource in after}
    found = [ResourceChange(Action.ADD, r.type, r.name, _stateful(r.type)) for k, r in new.items() if k not in old]
    found += [ResourceChange(Action.REMOVE, r.type, r.name, _stateful(r.type)) for k, r in old.items() if k not in new]
    for key in old.keys() & new.keys():
        change = _changed(old[key], new[key])
        if change is not None:
            found.append(change)
    found.sort(key=lambda c: (_ORDER[c.action], not c.stateful, c.type, c.name))
    unknown = replacements.missing_types(r.type for r in after)
    return Plan(stack, base, tuple(found), tuple(unknown))


def load_render(data: Any) -> list[RenderedResource]:
    """Resources from the JSON ``python -m infra.render`` writes."""
    return [
        RenderedResource(item["type"], item["name"], item.get("inputs", {}), bool(item.get("protect", False)))
        for item in data["resources"]
    ]
