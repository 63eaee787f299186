"""The feature server on each backend, for tests that talk to it in-process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from mlplat.online_store import OnlineStore, open_store
from services.feature_server import Settings, create_app
from tests.online_specs import online_test_catalog
from tests.services.feature_server.asgi_client import AppClient

CATALOG = online_test_catalog()


def settings_for(url: str, namespace: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "catalog": Path("unused"),
        "online_store_url": url,
        "online_store_namespace": namespace,
        "online_store_timeout": 1.0,
        "max_entities": 100,
        "max_push_rows": 50,
        "max_body_bytes": 64 * 1024,
    }
    values.update(overrides)
    return Settings.model_validate(values)


@pytest.fixture(params=["redis", "sqlite"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "redis":
        return str(request.getfixturevalue("redis_url"))
    return f"sqlite:///{tmp_path}/online.db"


@pytest.fixture
def store(store_url: str, namespace: str) -> Iterator[OnlineStore]:
    opened = open_store(store_url, CATALOG, namespace=namespace, timeout=2.0)
    yield opened
    opened.close()
    if store_url.startswith("redis"):
        client = redis.Redis.from_url(store_url)
        keys = list(client.scan_iter(f"{namespace}:*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture
def client(store_url: str, namespace: str, store: OnlineStore) -> Iterator[AppClient]:
    app_client = AppClient(create_app(settings_for(store_url, namespace), catalog=CATALOG))
    yield app_client
    app_client.close()
