"""Editing a copy of the example specs in place, for tests of what a spec change does."""

from __future__ import annotations

from pathlib import Path


def edit_spec(path: Path, old: str, new: str) -> None:
    """Replace the first ``old`` in ``path`` by ``new``; fails when ``old`` is not there."""
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))
