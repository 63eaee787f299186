"""Fixtures of the offline tests: one small local Spark for the whole run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from mlplat.offline.spark_engine import local_session

    session = local_session("mlplat-tests")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
