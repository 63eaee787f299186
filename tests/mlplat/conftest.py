"""Fixtures of the mlplat package tests: the example catalog and its synthetic data."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlplat.catalog import Catalog
from mlplat.loader import load_catalog
from mlplat.synthetic import SyntheticConfig, generate


@pytest.fixture(scope="session")
def catalog(specs_dir: Path) -> Catalog:
    return load_catalog(specs_dir)


@pytest.fixture
def spec_tree(specs_dir: Path, tmp_path: Path) -> Path:
    """A copy of the example specs and their pinned models, free to edit."""
    shutil.copytree(specs_dir, tmp_path / "specs")
    shutil.copytree(specs_dir.parent / "models", tmp_path / "models")
    return tmp_path


@pytest.fixture(scope="session")
def small_data(catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An offline root with the example sources for 400 applicants (seed 7)."""
    root = tmp_path_factory.mktemp("offline")
    generate(catalog, root, SyntheticConfig(seed=7, applicants=400))
    return root


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from mlplat.offline.spark_engine import local_session

    session = local_session("mlplat-tests")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
