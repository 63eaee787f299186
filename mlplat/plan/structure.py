"""Structural diffs of plain values: what changed, by path, with long values cut.

Lists of named mappings (features, versions, catalog documents, containers) are matched
by name rather than position, so inserting one item reports that item, not a shift of
every item after it. Text holding a JSON object or array (a ConfigMap's ``catalog.json``,
an S3 object's content, an IAM policy) is parsed and diffed the same way, so a changed
``ttl`` inside a 40 KB catalog shows as one line with its path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: Values longer than this are cut when shown.
MAX_SHOWN = 72
#: A sha256 in hex, shown by its first 12 characters as git shows commits.
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_MISSING: Any = object()


@dataclass(frozen=True)
class Change:
    """One leaf that differs: where, and its values before and after (``None`` when absent)."""

    path: str
    before: Any
    after: Any

    @property
    def added(self) -> bool:
        return self.before is None and self.after is not None

    @property
    def removed(self) -> bool:
        return self.after is None and self.before is not None


def changes(before: Any, after: Any, path: str = "") -> list[Change]:
    """Every leaf that differs between ``before`` and ``after``, in path order."""
    return list(_walk(before, after, path))


def _walk(before: Any, after: Any, path: str) -> Iterator[Change]:
    if before == after:
        return
    old, new = _parsed(before), _parsed(after)
    if isinstance(old, dict) and isinstance(new, dict):
        yield from _walk_mapping(old, new, path)
    elif isinstance(old, list) and isinstance(new, list):
        yield from _walk_list(old, new, path)
    else:
        yield Change(path, None if before is _MISSING else before, None if after is _MISSING else after)


def _walk_mapping(old: dict[Any, Any], new: dict[Any, Any], path: str) -> Iterator[Change]:
    for key in sorted(set(old) | set(new), key=str):
        yield from _walk(old.get(key, _MISSING), new.get(key, _MISSING), _child(path, str(key)))


def _walk_list(old: list[Any], new: list[Any], path: str) -> Iterator[Change]:
    old_keys, new_keys = _keys(old), _keys(new)
    if old_keys is not None and new_keys is not None:
        before, after = dict(zip(old_keys, old, strict=True)), dict(zip(new_keys, new, strict=True))
        for key in [*old_keys, *(k for k in new_keys if k not in before)]:
            yield from _walk(before.get(key, _MISSING), after.get(key, _MISSING), f"{path}[{key}]")
        return
    if len(old) == len(new):
        for index, (item_old, item_new) in enumerate(zip(old, new, strict=True)):
            yield from _walk(item_old, item_new, f"{path}[{index}]")
        return
    yield Change(path, old, new)


def _keys(items: list[Any]) -> list[str] | None:
    """A unique name per item (``name``, or ``Kind/name`` of a spec document), or None."""
    keys = []
    for item in items:
        if not isinstance(item, dict):
            return None
        metadata = item.get("metadata")
        if isinstance(metadata, dict) and isinstance(metadata.get("name"), str):
            kind = item.get("kind")
            keys.append(f"{kind}/{metadata['name']}" if isinstance(kind, str) else metadata["name"])
        elif isinstance(item.get("name"), str):
            keys.append(item["name"])
        else:
            return None
    return keys if len(set(keys)) == len(keys) else None


def _parsed(value: Any) -> Any:
    """``value``, or the JSON object/array a string holds."""
    if isinstance(value, str) and value[:1] in ("{", "[") and len(value) > 1:
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _child(path: str, key: str) -> str:
    if key.isidentifier():
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def shown(value: Any) -> str:
    """``value`` for a person: strings bare, others as JSON, digests short, cut past :data:`MAX_SHOWN` characters."""
    if value is None:
        return "(none)"
    if isinstance(value, str) and _DIGEST.fullmatch(value):
        return f"{value[:12]}…"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    if len(text) <= MAX_SHOWN:
        return text
    return f"{text[: MAX_SHOWN - 1]}… ({len(text):,} chars)"
