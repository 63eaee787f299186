"""Rendered stacks, built once per test session (rendering is the slow part)."""

from __future__ import annotations

import pytest

from infra.rendering import REPO, STACKS, Rendered, render, stack_config
from mlplat.catalog import Catalog
from mlplat.loader import load_catalog


@pytest.fixture(scope="session")
def example_catalog() -> Catalog:
    return load_catalog(REPO / "specs")


@pytest.fixture(scope="session")
def stacks(example_catalog: Catalog) -> dict[str, Rendered]:
    """dev, staging and prod rendered under mocks with the example specs."""
    return {stack: render(example_catalog, stack_config(stack)) for stack in STACKS}
