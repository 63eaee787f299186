"""Diagnostics: one located problem in the specs, and how it is written for people."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

Path = tuple[str | int, ...]


class Severity(StrEnum):
    """Errors stop a run; warnings are reported and let it go on."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Location:
    """Where in a file a value was written (1-based line and column; 0 when unknown)."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line == 0:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Diagnostic:
    """One problem: where it is, which field, and a message that says the fix."""

    location: Location
    path: Path
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        field = format_path(self.path)
        prefix = f"{self.location}: {self.severity.value}: "
        return prefix + (f"{field}: {self.message}" if field else self.message)

    def as_dict(self) -> dict[str, object]:
        """JSON form, for ``mlplat validate --format json``."""
        return {
            "file": self.location.file,
            "line": self.location.line,
            "column": self.location.column,
            "path": format_path(self.path),
            "severity": self.severity.value,
            "message": self.message,
        }


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def format_path(path: Path) -> str:
    """``("spec", "features", 2, "name")`` -> ``spec.features[2].name``; other keys quoted (``labels['a b']``)."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]"
    return text


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or nothing when none is close."""
    options = list(choices)
    matches = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
    if not matches and len(value) >= 3:  # an abbreviation: 'fico' for 'fico_score'
        matches = [choice for choice in options if choice.startswith(value)][:2]
        matches = matches if len(matches) == 1 else []
    return f" (did you mean {matches[0]!r}?)" if matches else ""


def one_of(choices: Sequence[str], limit: int = 12) -> str:
    """``'a', 'b', 'c'`` (or the first ``limit`` and a count), for "accepted" lists."""
    shown = ", ".join(repr(c) for c in sorted(choices)[:limit])
    rest = len(choices) - limit
    return f"{shown} and {rest} more" if rest > 0 else (shown or "none")


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    """Whether any diagnostic is an error."""
    return any(d.severity is Severity.ERROR for d in diagnostics)
