"""What an image installs, read from the files that build it: shared by the image tests.

An image installs the packages of a ``packages.txt`` at the versions ``requirements.txt``
pins, with their dependencies; a command in it may import only what those provide.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Collection, Iterable
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

#: In every venv, whatever the image lists.
WITH_EVERY_VENV = frozenset({"pip", "setuptools"})


def canonical(name: str) -> str:
    """A distribution's name as PyPI compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def packages(path: Path) -> list[str]:
    """The package names of a ``packages.txt`` (comments and blank lines left out)."""
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def lock(repo: Path) -> dict[str, str]:
    """``requirements.txt``'s pins: canonical name to version."""
    pins = {}
    for line in (repo / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pins[canonical(name.split("[")[0])] = version.split()[0]
    return pins


def closure(names: Iterable[str]) -> set[str]:
    """The distributions ``names`` install, dependencies included (extras left out)."""
    seen: set[str] = set()
    pending = [canonical(name) for name in names]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        for line in metadata.distribution(name).requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(canonical(requirement.name))
    return seen


def imported_but_not_installed(
    repo: Path, modules: Iterable[str], installed: Collection[str], optional: Collection[str]
) -> dict[str, list[str]]:
    """Top-level modules importing ``modules`` loads whose distributions are not in ``installed``.

    Imported in a fresh interpreter; ``optional`` modules (imported only when present, and
    not needed) are left out, as are modules no distribution owns (the standard library, ours).
    """
    probe = "; ".join(f"import {module}" for module in modules)
    probe += "; import sys, json; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=repo, capture_output=True, text=True, check=True)
    owners = metadata.packages_distributions()
    return {
        module: owners[module]
        for module in json.loads(result.stdout)
        if module in owners and module not in optional and not {canonical(d) for d in owners[module]} & installed
    }
