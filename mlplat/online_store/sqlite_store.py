"""The SQLite backend: the embedded default, one file, no server.

It stores the same keys and blobs as Redis (:mod:`mlplat.online_store.codec`) in one
table. The file runs in WAL mode so readers never wait for the writer; writes are an
upsert that only replaces a row when its event time is not older than the stored one,
which SQLite serializes, so concurrent writers (threads or processes) stay monotonic.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from mlplat.errors import StoreUnavailableError
from mlplat.online_store.base import FeatureValue, ReadRequest, ReadResult, Row, ViewStatus
from mlplat.online_store.codec import WireFormat, status_of

T = TypeVar("T")

#: Bound parameters per SELECT; SQLite allows 32766, smaller keeps plans cheap.
READ_CHUNK = 5_000
#: Lock waits in a file shared by several processes take longer than network timeouts.
MIN_BUSY_TIMEOUT = 2.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS online_features (
    key TEXT PRIMARY KEY,
    event_us INTEGER NOT NULL,
    expires_us INTEGER NOT NULL,
    value BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS online_features_expiry ON online_features (expires_us);
CREATE TABLE IF NOT EXISTS view_newest (view TEXT PRIMARY KEY, event_us INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS view_runs (
    view TEXT NOT NULL, result TEXT NOT NULL, runs INTEGER NOT NULL, PRIMARY KEY (view, result)
) WITHOUT ROWID;
"""

#: The view's newest event only moves forward, like Redis' ``ZADD GT``.
NEWEST = """
INSERT INTO view_newest (view, event_us) VALUES (?, ?)
ON CONFLICT (view) DO UPDATE SET event_us = max(event_us, excluded.event_us)
"""
COUNT_RUN = """
INSERT INTO view_runs (view, result, runs) VALUES (?, ?, 1)
ON CONFLICT (view, result) DO UPDATE SET runs = runs + 1
"""

UPSERT = """
INSERT INTO online_features (key, event_us, expires_us, value) VALUES (?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET
    event_us = excluded.event_us, expires_us = excluded.expires_us, value = excluded.value
WHERE excluded.event_us >= online_features.event_us
"""


class SqliteOnlineStore:
    """An :class:`~mlplat.online_store.base.OnlineStore` in one SQLite file."""

    def __init__(self, path: Path, wire: WireFormat, *, timeout: float) -> None:
        self._path = path
        self._wire = wire
        self._busy_timeout = max(timeout, MIN_BUSY_TIMEOUT)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._call(lambda: self._connection().executescript(SCHEMA))

    # --- OnlineStore ---------------------------------------------------------------------

    def write(self, view: str, rows: Sequence[Row]) -> int:
        now_micros = time.time_ns() // 1000
        live = self._wire.unexpired(self._wire.encode_rows(view, rows), now_micros)
        if not live:
            return 0
        params = [(row.key, row.event_micros, row.expires_micros, row.blob) for row in live]
        newest = (view, max(row.event_micros for row in live))
        return self._call(lambda: self._upsert(params, newest, now_micros))

    def read(self, requests: Sequence[ReadRequest]) -> list[dict[str, FeatureValue]]:
        return [result.by_feature(r.features) for r, result in zip(requests, self.read_bulk(requests), strict=True)]

    def read_bulk(self, requests: Sequence[ReadRequest]) -> list[ReadResult]:
        if not requests:
            return []
        keys = self._wire.keys(requests)
        stored = self._call(lambda: self._select(sorted(set(keys))))
        return self._wire.results(requests, [stored.get(key) for key in keys], time.time_ns() // 1000)

    def ping(self) -> None:
        self._call(lambda: self._connection().execute("SELECT 1").fetchone())

    def record_run(self, view: str, succeeded: bool) -> None:
        result = "succeeded" if succeeded else "failed"
        self._call(lambda: self._connection().execute(COUNT_RUN, (view, result)))

    def view_status(self) -> dict[str, ViewStatus]:
        def fetch() -> tuple[dict[str, int], dict[str, int]]:
            connection = self._connection()
            newest = dict(connection.execute("SELECT view, event_us FROM view_newest").fetchall())
            runs = connection.execute("SELECT view, result, runs FROM view_runs").fetchall()
            return newest, {f"{view}:{result}": count for view, result, count in runs}

        return status_of(*self._call(fetch))

    def close(self) -> None:
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._local = threading.local()

    # --- internals -----------------------------------------------------------------------

    def _upsert(self, params: list[tuple[str, int, int, bytes]], newest: tuple[str, int], now_micros: int) -> int:
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            before = connection.total_changes
            connection.executemany(UPSERT, params)
            applied = connection.total_changes - before
            connection.execute(NEWEST, newest)
            # Storage expires like Redis keys do, so the file stays bounded too.
            connection.execute("DELETE FROM online_features WHERE expires_us < ?", (now_micros,))
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        return applied

    def _select(self, keys: list[str]) -> dict[str, bytes]:
        connection = self._connection()
        found: dict[str, bytes] = {}
        for start in range(0, len(keys), READ_CHUNK):
            chunk = keys[start : start + READ_CHUNK]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT key, value FROM online_features WHERE key IN ({marks})"  # noqa: S608 - only placeholders
            found.update(connection.execute(query, chunk).fetchall())
        return found

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                self._path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def _call(self, action: Callable[[], T]) -> T:
        try:
            return action()
        except sqlite3.Error as error:
            raise StoreUnavailableError(f"online store sqlite file {str(self._path)!r} failed: {error}") from error
