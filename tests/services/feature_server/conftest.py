"""The feature server on each backend, for tests that talk to it in-process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mlplat.online_store import OnlineStore
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


@pytest.fixture
def client(store_url: str, namespace: str, store: OnlineStore) -> Iterator[AppClient]:
    app_client = AppClient(create_app(settings_for(store_url, namespace), catalog=CATALOG))
    yield app_client
    app_client.close()
