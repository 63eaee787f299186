"""The service images: multi-stage, pinned, non-root, built from the repository's lock."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SERVICES = ("feature_server", "model_server")


def _lock(repo: Path) -> dict[str, str]:
    pins = {}
    for line in (repo / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pins[re.sub(r"[-_.]+", "-", name.split("[")[0]).lower()] = version
    return pins


def test_dockerfile_is_multi_stage_pinned_and_non_root(repo: Path) -> None:
    text = (repo / "services" / "Dockerfile").read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.MULTILINE)
    assert base is not None
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base.group(1))
    assert len(re.findall(r"^FROM ", text, re.MULTILINE)) >= 2
    users = re.findall(r"^USER (\S+)$", text, re.MULTILINE)
    assert users, "the image must drop root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit()
    assert int(uid) != 0
    assert "--constraint requirements.txt" in text
    assert "services/${SERVICE}/packages.txt" in text
    for service in SERVICES:
        assert f"--build-arg SERVICE={service}" in text


@pytest.mark.parametrize("service", SERVICES)
def test_image_packages_are_pinned_by_the_lock(repo: Path, service: str) -> None:
    lock = _lock(repo)
    packages = [
        re.sub(r"[-_.]+", "-", line.strip()).lower()
        for line in (repo / "services" / service / "packages.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert packages
    missing = [name for name in packages if name not in lock]
    assert missing == [], f"not pinned in requirements.txt: {missing}"
    assert "pyspark" not in packages
    assert "pulumi" not in packages


ENTRY_MODULES = {
    "feature_server": ("services.cli", "services.feature_server.main", "services.feature_server.app"),
    "model_server": ("services.cli", "services.model_server.server", "services.model_server.app"),
}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(names: list[str]) -> set[str]:
    """The distributions ``names`` install, dependencies included (extras left out)."""
    from importlib import metadata

    from packaging.requirements import Requirement

    seen: set[str] = set()
    pending = [_canonical(name) for name in names]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        for line in metadata.distribution(name).requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(_canonical(requirement.name))
    return seen


#: Modules a library imports only if they happen to be installed, and works without: the
#: image leaves them out. httpx (the key-set client) decodes Brotli bodies when ``brotli``
#: is there (``httpx/_decoders.py`` guards the import); the issuer's keys are plain JSON.
OPTIONAL_IMPORTS = {"brotli", "_brotli"}


@pytest.mark.parametrize("service", SERVICES)
def test_the_service_command_imports_only_what_its_image_installs(repo: Path, service: str) -> None:
    import json
    import subprocess
    import sys
    from importlib import metadata

    packages = [
        line.strip()
        for line in (repo / "services" / service / "packages.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    allowed = _closure(packages) | {"mlplat", "pip", "setuptools"}  # the last two come with every venv
    probe = "; ".join(f"import {module}" for module in ENTRY_MODULES[service])
    probe += "; import sys, json; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=repo, capture_output=True, text=True, check=True)
    owners = metadata.packages_distributions()
    missing = {
        module: owners[module]
        for module in json.loads(result.stdout)
        if module in owners and module not in OPTIONAL_IMPORTS and not {_canonical(d) for d in owners[module]} & allowed
    }
    assert missing == {}, f"imported by `mlplat-serve` but not installed in the {service} image"
