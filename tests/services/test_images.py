"""The service images: multi-stage, pinned, non-root, built from the repository's lock."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.image_contents import WITH_EVERY_VENV, canonical, closure, imported_but_not_installed, lock, packages

SERVICES = ("feature_server", "model_server")


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
    pins = lock(repo)
    names = [canonical(name) for name in packages(repo / "services" / service / "packages.txt")]
    assert names
    missing = [name for name in names if name not in pins]
    assert missing == [], f"not pinned in requirements.txt: {missing}"
    assert "pyspark" not in names
    assert "pulumi" not in names


ENTRY_MODULES = {
    "feature_server": ("services.cli", "services.feature_server.main", "services.feature_server.app"),
    "model_server": ("services.cli", "services.model_server.server", "services.model_server.app"),
}


#: Modules a library imports only if they happen to be installed, and works without: the
#: image leaves them out. httpx (the key-set client) decodes Brotli bodies when ``brotli``
#: is there (``httpx/_decoders.py`` guards the import); the issuer's keys are plain JSON.
OPTIONAL_IMPORTS = {"brotli", "_brotli"}


@pytest.mark.parametrize("service", SERVICES)
def test_the_service_command_imports_only_what_its_image_installs(repo: Path, service: str) -> None:
    installed = closure(packages(repo / "services" / service / "packages.txt")) | {"mlplat"} | WITH_EVERY_VENV
    missing = imported_but_not_installed(repo, ENTRY_MODULES[service], installed, OPTIONAL_IMPORTS)
    assert missing == {}, f"imported by `mlplat-serve` but not installed in the {service} image"
