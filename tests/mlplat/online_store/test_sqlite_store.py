"""What only the SQLite backend does: one WAL file, bounded by expiry, clear errors."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mlplat.errors import StoreUnavailableError, UsageError
from mlplat.online_store import ReadRequest, Row, open_store
from tests.online_specs import online_test_catalog

CATALOG = online_test_catalog()


def test_the_store_is_one_wal_file_created_with_its_directory(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "online.db"
    store = open_store(f"sqlite:///{path}", CATALOG)
    store.write("typed", [Row(("a",), datetime.now(UTC), {"count64": 1})])
    store.close()

    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert connection.execute("SELECT key FROM online_features").fetchall() == [("mlplat:typed:{a}",)]


def test_expired_rows_are_deleted_on_write(tmp_path: Path) -> None:
    path = tmp_path / "online.db"
    store = open_store(f"sqlite:///{path}", CATALOG)
    long_ago = datetime.now(UTC) - timedelta(days=1)
    store.write("merchant_stats", [Row((1,), long_ago, {"orders_7d": 1})])  # ttl 1d: stale, kept
    store.write("typed", [Row(("old",), long_ago, {"count64": 1})])  # ttl 1h: expired
    store.write("typed", [Row(("new",), datetime.now(UTC), {"count64": 2})])

    with sqlite3.connect(path) as connection:
        keys = {key for (key,) in connection.execute("SELECT key FROM online_features")}

    assert keys == {"mlplat:merchant_stats:{1}", "mlplat:typed:{new}"}
    assert store.read([ReadRequest("typed", ("old",), ["count64"])])[0]["count64"].value is None


def test_a_file_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()

    with pytest.raises(StoreUnavailableError, match=r"dir\.db"):
        open_store(f"sqlite:///{tmp_path}/dir.db", CATALOG)


def test_sqlite_urls_need_a_path() -> None:
    with pytest.raises(UsageError, match=r"sqlite:///relative\.db"):
        open_store("sqlite://", CATALOG)
