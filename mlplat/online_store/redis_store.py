"""The Redis backend (ElastiCache in AWS): MGET reads, one Lua call per write batch.

Reads of any number of entities and views are one MGET. Writes go through a Lua
script that compares each stored event time with the new one on the server, so an
older event never overwrites a newer one even with concurrent writers, in one round
trip per batch. Every key expires at event time + ttl + grace (``PXAT``), so memory
stays bounded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import redis
from redis.backoff import NoBackoff
from redis.connection import Connection
from redis.exceptions import NoScriptError, RedisError
from redis.retry import Retry

from mlplat.errors import StoreUnavailableError
from mlplat.online_store.base import FeatureValue, ReadRequest, ReadResult, Row, ViewStatus
from mlplat.online_store.codec import Encoded, WireFormat, status_of

T = TypeVar("T")

#: Rows per script call; a call blocks Redis while it runs, so keep each one short (~1 ms).
WRITE_CHUNK = 500

# KEYS: one key per row. ARGV: per row, event time (µs), expiry (ms since epoch), blob.
# The event time sits at bytes 2-9 of a version-1 blob (see codec.HEADER). Equal event
# times overwrite, so a rerun of the same batch is idempotent.
WRITE_SCRIPT = """
local applied = 0
for i, key in ipairs(KEYS) do
  local base = (i - 1) * 3
  local event = tonumber(ARGV[base + 1])
  local stored = redis.call('GET', key)
  local newer = true
  if stored and string.byte(stored, 1) == 1 then
    newer = struct.unpack('>i8', stored, 2) <= event
  end
  if newer then
    redis.call('SET', key, ARGV[base + 3], 'PXAT', ARGV[base + 2])
    applied = applied + 1
  end
end
return applied
"""


class RedisOnlineStore:
    """An :class:`~mlplat.online_store.base.OnlineStore` on one Redis (cluster mode disabled)."""

    def __init__(self, client: redis.Redis, wire: WireFormat, description: str) -> None:
        self._client = client
        self._wire = wire
        self._description = description
        self._script_sha: str | None = None
        # Reads use one connection of their own while no other thread reads: taking one
        # from redis-py's pool and giving it back costs as much CPU as the MGET itself.
        self._reader: Connection | None = None
        self._reading = threading.Lock()

    @classmethod
    def from_url(
        cls, url: str, wire: WireFormat, *, timeout: float, password: str | None, description: str
    ) -> RedisOnlineStore:
        """A store on ``url`` (``redis://`` or ``rediss://``) failing within ``timeout`` seconds."""
        options: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            # One immediate retry on a broken connection (a pooled socket from before a
            # Redis restart), none on timeouts: an outage must surface within the timeout.
            "retry": Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
            "health_check_interval": 0,
        }
        if password is not None:
            options["password"] = password
        client = redis.Redis.from_url(url, **options)
        return cls(client, wire, description)

    # --- OnlineStore ---------------------------------------------------------------------

    def write(self, view: str, rows: Sequence[Row]) -> int:
        encoded = self._wire.encode_rows(view, rows)
        live = self._wire.unexpired(encoded, time.time_ns() // 1000)
        if not live:
            return 0
        chunks = [live[i : i + WRITE_CHUNK] for i in range(0, len(live), WRITE_CHUNK)]
        newest = max(row.event_micros for row in live)
        return self._call(lambda: self._run_script(view, newest, chunks))

    def read(self, requests: Sequence[ReadRequest]) -> list[dict[str, FeatureValue]]:
        return [result.by_feature(r.features) for r, result in zip(requests, self.read_bulk(requests), strict=True)]

    def read_bulk(self, requests: Sequence[ReadRequest]) -> list[ReadResult]:
        if not requests:
            return []
        keys = self._wire.keys(requests)
        blobs = self._call(lambda: self._mget(keys))
        return self._wire.results(requests, blobs, time.time_ns() // 1000)

    def ping(self) -> None:
        self._call(self._client.ping)

    def record_run(self, view: str, succeeded: bool) -> None:
        field = f"{view}:{'succeeded' if succeeded else 'failed'}"
        self._call(lambda: self._client.hincrby(self._wire.status_key("runs"), field, 1))

    def view_status(self) -> dict[str, ViewStatus]:
        def fetch() -> list[Any]:
            pipe = self._client.pipeline(transaction=False)
            pipe.zrange(self._wire.status_key("newest"), 0, -1, withscores=True)
            pipe.hgetall(self._wire.status_key("runs"))
            return pipe.execute()

        newest, runs = self._call(fetch)
        return status_of({k.decode(): int(v) for k, v in newest}, {k.decode(): int(v) for k, v in runs.items()})

    def close(self) -> None:
        self._client.close()

    # --- internals -----------------------------------------------------------------------

    def _run_script(self, view: str, newest: int, chunks: Sequence[Sequence[Encoded]]) -> int:
        if self._script_sha is None:
            self._script_sha = str(self._client.script_load(WRITE_SCRIPT))
        try:
            return self._eval(self._script_sha, view, newest, chunks)
        except NoScriptError:
            # Redis restarted or failed over and forgot the script: load it again once.
            self._script_sha = str(self._client.script_load(WRITE_SCRIPT))
            return self._eval(self._script_sha, view, newest, chunks)

    def _eval(self, sha: str, view: str, newest: int, chunks: Sequence[Sequence[Encoded]]) -> int:
        pipe = self._client.pipeline(transaction=False)
        # GT: the view's newest event only moves forward, whatever order writers finish in.
        # Scores are doubles: event micros stay exact below 2**53 (the year 2255).
        pipe.zadd(self._wire.status_key("newest"), {view: newest}, gt=True)
        for chunk in chunks:
            args: list[bytes | str | int] = []
            for row in chunk:
                args.extend((row.event_micros, row.expires_micros // 1000, row.blob))
            pipe.evalsha(sha, len(chunk), *(row.key for row in chunk), *args)
        return sum(int(applied) for applied in pipe.execute()[1:])

    def _mget(self, keys: list[str]) -> list[bytes | None]:
        if not self._reading.acquire(blocking=False):
            return cast(list[bytes | None], self._client.mget(keys))  # another thread is reading
        try:
            if self._reader is None:
                self._reader = self._client.connection_pool.get_connection()
            try:
                return self._command(self._reader, keys)
            except redis.ConnectionError:
                # One immediate retry on a broken connection, as the client's retry policy
                # does (redis-py has already disconnected it; the retry reconnects).
                return self._command(self._reader, keys)
        finally:
            self._reading.release()

    @staticmethod
    def _command(connection: Connection, keys: list[str]) -> list[bytes | None]:
        connection.send_command("MGET", *keys, check_health=False)  # type: ignore[no-untyped-call]
        return cast(list[bytes | None], connection.read_response())

    def _call(self, action: Callable[[], T]) -> T:
        try:
            return action()
        except RedisError as error:
            raise StoreUnavailableError(
                f"online store {self._description} failed: {type(error).__name__}: {error}"
            ) from error
