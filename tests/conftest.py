"""Shared fixtures: paths of the repository."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlplat.online_store import BulkOnlineStore, open_store
from tests.online_specs import delete_namespace, online_test_catalog
from tests.servers import (
    MYSQL_HOST,
    MYSQL_PORT,
    ON_CI,
    REDIS_HOST,
    REDIS_PORT,
    port_open,
    throwaway_redis,
    unavailable,
)

REPO = Path(__file__).resolve().parent.parent

#: The queue-delay target of every server the tests start (in-process apps and server
#: processes, which inherit the environment): a test server shares its process with its
#: client (whose Python work holds the GIL for tens of milliseconds while the server's loop
#: waits), and the suite's machine with the other tests, so its loop runs late without any
#: queue of requests. The tests of shedding on a late loop set their own target.
TEST_MAX_QUEUE_MS = "10000"
os.environ.setdefault("MLPLAT_MAX_QUEUE_MS", TEST_MAX_QUEUE_MS)


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def specs_dir() -> Path:
    return REPO / "specs"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real Redis: the machine's, or a throwaway server on a laptop without one.

    Tests isolate themselves with a unique key namespace (see ``namespace``), never by
    flushing, since other test runs may share the server.
    """
    if port_open(REDIS_HOST, REDIS_PORT):
        yield f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
        return
    if ON_CI:
        unavailable(f"Redis at {REDIS_HOST}:{REDIS_PORT}")
    with throwaway_redis(tmp_path_factory.mktemp("redis")) as (_, port):
        yield f"redis://127.0.0.1:{port}/0"


@pytest.fixture
def namespace() -> str:
    """A key namespace no other test (or concurrent test run) uses."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """URL of a fresh, empty database on the machine's MariaDB, dropped afterwards."""
    if not port_open(MYSQL_HOST, MYSQL_PORT):
        unavailable(f"MariaDB at {MYSQL_HOST}:{MYSQL_PORT}")
    import pymysql

    name = f"mlplat_test_{uuid.uuid4().hex[:12]}"
    connection = pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user="root", password="")
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        yield f"mysql+pymysql://root@{MYSQL_HOST}:{MYSQL_PORT}/{name}?charset=utf8mb4"
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        connection.close()


@pytest.fixture(params=["redis", "sqlite"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each online-store backend in turn: the real Redis, then a SQLite file."""
    if request.param == "redis":
        return str(request.getfixturevalue("redis_url"))
    return f"sqlite:///{tmp_path}/online.db"


@pytest.fixture
def store(store_url: str, namespace: str) -> Iterator[BulkOnlineStore]:
    """The online store of the shared test catalog (``tests.online_specs``), in its own namespace."""
    opened = open_store(store_url, online_test_catalog(), namespace=namespace, timeout=2.0)
    yield opened
    opened.close()
    if store_url.startswith("redis"):
        delete_namespace(store_url, namespace)
