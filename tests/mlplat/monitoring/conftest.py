"""A decision log simulated from the default synthetic data and the committed models."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlplat.catalog import Catalog
from mlplat.synthetic import SyntheticConfig, generate


@pytest.fixture(scope="session")
def default_data(catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data the committed models (and their profiles) were made from: seed 7, 3000 applicants."""
    root = tmp_path_factory.mktemp("default-data")
    generate(catalog, root, SyntheticConfig())
    return root
