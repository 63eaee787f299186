"""A decision log simulated from the default synthetic data and the committed models."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mlplat.catalog import Catalog
from mlplat.synthetic import SyntheticConfig, generate
from tests.servers import free_port, unavailable


@pytest.fixture(scope="session")
def default_data(catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data the committed models (and their profiles) were made from: seed 7, 3000 applicants."""
    root = tmp_path_factory.mktemp("default-data")
    generate(catalog, root, SyntheticConfig())
    return root


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[str]:
    """A real Prometheus on a free loopback port that takes remote writes."""
    tmp_path = tmp_path / "prometheus"
    tmp_path.mkdir()
    binary = shutil.which("prometheus")
    if binary is None:
        unavailable("prometheus (on PATH)")
    assert binary is not None
    port = free_port()
    (tmp_path / "prometheus.yml").write_text("global:\n  scrape_interval: 1m\n")
    with (tmp_path / "prometheus.log").open("ab") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--web.enable-remote-write-receiver",
            ],
            stdout=log,
            stderr=log,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, (tmp_path / "prometheus.log").read_text()
            assert time.monotonic() < deadline, "prometheus did not get ready in 30 s"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
