"""One plan report, written three ways: text for terminals, Markdown for pull requests, JSON.

:func:`sections` turns a :class:`~mlplat.plan.runner.PlanReport` into titled sections of
entries; :func:`to_text` and :func:`to_markdown` only format those sections, so both
say the same things in the same order. :func:`to_json` is the report's data.

Order: the spec changes first, in spec words; then per stack what is replaced (stateful
resources first, flagged), updated in place, whose pods roll, added and removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mlplat.plan.resources import Action, Plan, ResourceChange
from mlplat.plan.runner import PlanReport
from mlplat.plan.spec_changes import SpecChange
from mlplat.plan.structure import shown

#: Property lines shown per resource; the rest are counted.
MAX_PROPERTIES = 8


class Tone(StrEnum):
    """How loud an entry is."""

    PLAIN = "plain"
    DANGER = "danger"
    ADD = "add"
    REMOVE = "remove"
    CHANGE = "change"


@dataclass(frozen=True)
class Entry:
    """One line of a section, with detail lines below it."""

    text: str
    tone: Tone = Tone.PLAIN
    code: tuple[str, ...] = ()
    """Parts of ``text`` (in order) that are identifiers, set in code type in Markdown."""
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class Section:
    title: str
    level: int
    entries: tuple[Entry, ...] = ()
    caution: tuple[str, ...] = field(default_factory=tuple)
    """Warnings shown before the entries, loudly."""


_TITLES = {
    Action.REPLACE: "replaced",
    Action.UPDATE: "updated in place",
    Action.ROLL: "pods that roll",
    Action.ADD: "added",
    Action.REMOVE: "removed",
}
_TONES = {
    Action.REPLACE: Tone.DANGER,
    Action.UPDATE: Tone.CHANGE,
    Action.ROLL: Tone.CHANGE,
    Action.ADD: Tone.ADD,
    Action.REMOVE: Tone.REMOVE,
}


def _spec_entry(change: SpecChange) -> Entry:
    if not change.path:
        what = "added" if change.before is None else "removed"
        return Entry(f"{change.object}  {what}", Tone.ADD if what == "added" else Tone.REMOVE, (change.object,))
    note = f" ({change.note})" if change.note else ""
    text = f"{change.object}  {change.path}  {shown(change.before)} -> {shown(change.after)}{note}"
    return Entry(text, Tone.CHANGE, (change.object, change.path))


def _property_lines(change: ResourceChange) -> tuple[str, ...]:
    lines = [f"{p.path}: {shown(p.before)} -> {shown(p.after)}" for p in change.properties[:MAX_PROPERTIES]]
    hidden = len(change.properties) - MAX_PROPERTIES
    if hidden > 0:
        lines.append(f"… and {hidden} more changed properties (--format json lists all)")
    return tuple(lines)


def _resource_entry(change: ResourceChange) -> Entry:
    flags = []
    if change.stateful and change.action in (Action.REPLACE, Action.REMOVE):
        flags.append("STATEFUL: its data is lost")
    elif change.stateful and change.action is not Action.ADD:
        flags.append("stateful")
    if change.forcing:
        flags.append(f"forced by {', '.join(change.forcing[:3])}")
    suffix = f"  [{'; '.join(flags)}]" if flags else ""
    tone = Tone.DANGER if change.dangerous else _TONES[change.action]
    details = (*(f"note: {note}" for note in change.notes), *_property_lines(change))
    return Entry(f"{change.name}  {change.type}{suffix}", tone, (change.name, change.type), details)


def _cautions(plan: Plan) -> tuple[str, ...]:
    found = [
        f"{change.action.value} of stateful resource {change.name} ({change.type})"
        for change in plan.changes
        if change.stateful and change.action in (Action.REPLACE, Action.REMOVE)
    ]
    if plan.unknown_types:
        found.append(f"replacement rules unknown for {', '.join(plan.unknown_types)}: an update may be a replacement")
    return tuple(found)


def summary(plan: Plan) -> str:
    """``1 replaced (1 stateful), 2 updated in place, ...`` of one stack."""
    parts = []
    for action in Action:
        count = plan.count(action)
        stateful = sum(1 for c in plan.of(action) if c.stateful)
        extra = f" ({stateful} stateful)" if stateful and action in (Action.REPLACE, Action.REMOVE) else ""
        parts.append(f"{count} {_TITLES[action]}{extra}")
    return ", ".join(parts)


def sections(report: PlanReport) -> list[Section]:
    """The report as titled sections, in reading order."""
    spec_entries = tuple(_spec_entry(c) for c in report.spec_changes) or (Entry("no spec changes"),)
    found = [Section(f"spec changes against {report.base}", 2, spec_entries)]
    for plan in report.plans:
        found.append(Section(f"stack {plan.stack}: {summary(plan)}", 2, caution=_cautions(plan)))
        if not plan.changes:
            found.append(Section("no changes", 3))
        for action in Action:
            entries = tuple(_resource_entry(c) for c in plan.of(action))
            if entries:
                found.append(Section(f"{_TITLES[action]} ({len(entries)})", 3, entries))
    return found


def to_text(report: PlanReport) -> list[tuple[str, Tone]]:
    """Lines for a terminal with their tone (the CLI colours them)."""
    lines: list[tuple[str, Tone]] = []
    for section in sections(report):
        indent = "" if section.level == 2 else "  "
        lines.append((f"{indent}{section.title}", Tone.PLAIN))
        lines += [(f"{indent}  ! {caution}", Tone.DANGER) for caution in section.caution]
        for entry in section.entries:
            lines.append((f"{indent}  {entry.text}", entry.tone))
            lines += [(f"{indent}      {detail}", Tone.PLAIN) for detail in entry.details]
    return lines


def _code(text: str) -> str:
    """``text`` as a Markdown code span, whatever backticks it holds."""
    fence = "``" if "`" in text else "`"
    return f"{fence}{text.replace(chr(10), ' ')}{fence}"


def _markdown_entry(entry: Entry) -> list[str]:
    text = entry.text.replace("|", "\\|")
    for part in entry.code:
        text = text.replace(part, _code(part), 1)
    lead = "**" if entry.tone is Tone.DANGER else ""
    lines = [f"- {lead}{text}{lead}"]
    lines += [f"  - {_code(detail)}" for detail in entry.details]
    return lines


def to_markdown(report: PlanReport) -> str:
    """A pull-request comment."""
    lines = ["## mlplat plan", ""]
    for section in sections(report):
        lines += [f"{'#' * (section.level + 1)} {section.title}", ""]
        for caution in section.caution:
            lines += ["> [!CAUTION]", f"> **{caution}**", ""]
        for entry in section.entries:
            lines += _markdown_entry(entry)
        if section.entries:
            lines.append("")
    return "\n".join(lines)


def to_json(report: PlanReport) -> dict[str, Any]:
    """The report's data, for machines."""
    return {
        "base": report.base,
        "specChanges": [change.as_dict() for change in report.spec_changes],
        "stacks": [plan.as_dict() for plan in report.plans],
    }


def plans_markdown(plans: Sequence[Plan], base: str = "") -> str:
    """Markdown of resource plans alone (no spec changes)."""
    return to_markdown(PlanReport(base or (plans[0].base if plans else ""), (), tuple(plans)))
