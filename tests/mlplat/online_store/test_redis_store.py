"""What only the Redis backend does: expiry, round trips, outages, AUTH, script reloads."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from mlplat.errors import StoreUnavailableError, UsageError
from mlplat.online_store import ReadRequest, Row, open_store, redacted
from mlplat.online_store.redis_store import RedisOnlineStore
from tests.online_specs import online_test_catalog
from tests.servers import throwaway_redis

CATALOG = online_test_catalog()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[tuple[str, redis.Redis]]:
    """A throwaway server whose command statistics only this test touches."""
    with throwaway_redis(tmp_path) as (_, port):
        client = redis.Redis(port=port)
        yield f"redis://127.0.0.1:{port}/0", client
        client.close()


def _calls(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    changed = {name: count - before.get(name, 0) for name, count in after.items()}
    return {name: count for name, count in changed.items() if count and name != "info"}


def test_a_read_of_many_entities_and_views_is_one_command(private_redis: tuple[str, redis.Redis]) -> None:
    url, client = private_redis
    store = open_store(url, CATALOG, namespace="t")
    now = datetime.now(UTC)
    store.write("typed", [Row((f"a{i}",), now, {"count64": i}) for i in range(50)])
    store.write("merchant_stats", [Row((i,), now, {"orders_7d": i}) for i in range(50)])
    requests = [ReadRequest("typed", (f"a{i}",), ["count64", "label"]) for i in range(50)]
    requests += [ReadRequest("merchant_stats", (i,), ["orders_7d"]) for i in range(50)]
    requests += [ReadRequest("pair_stats", (f"a{i}", i), ["purchases"]) for i in range(50)]

    before = _calls(client)
    store.read(requests)
    after = _calls(client)

    assert _delta(before, after) == {"mget": 1}


def test_a_write_batch_is_one_script_call_per_chunk(private_redis: tuple[str, redis.Redis]) -> None:
    url, client = private_redis
    store = open_store(url, CATALOG, namespace="t")
    store.write("typed", [Row(("warm",), datetime.now(UTC), {})])  # loads the script

    before = _calls(client)
    store.write("typed", [Row((f"a{i}",), datetime.now(UTC), {"count64": i}) for i in range(300)])
    after = _calls(client)

    # The script's own GET/SET calls count too; what matters is one EVALSHA from the client.
    # The view's newest event rides in the same pipeline (ZADD GT): still one round trip.
    assert _delta(before, after) == {"evalsha": 1, "get": 300, "set": 300, "zadd": 1}


def test_keys_expire_one_ttl_after_going_stale(redis_url: str, namespace: str) -> None:
    store = open_store(redis_url, CATALOG, namespace=namespace)
    event = datetime.now(UTC) - timedelta(minutes=10)
    store.write("typed", [Row(("a",), event, {"count64": 1})])
    client = redis.Redis.from_url(redis_url)

    [key] = client.keys(f"{namespace}:typed:*")
    expires_at_ms = client.pexpiretime(key)

    assert key == f"{namespace}:typed:{{a}}".encode()
    assert expires_at_ms == int((event + timedelta(hours=2)).timestamp() * 1000)
    # The view's status record is one small key per namespace, kept (it is bounded by the views).
    assert client.keys(f"{namespace}:_status:*") == [f"{namespace}:_status:newest".encode()]
    client.delete(key, f"{namespace}:_status:newest")
    client.close()


def test_a_flushed_script_is_loaded_again(private_redis: tuple[str, redis.Redis]) -> None:
    url, client = private_redis
    store = open_store(url, CATALOG, namespace="t")
    store.write("typed", [Row(("a",), datetime.now(UTC), {"count64": 1})])
    client.script_flush()

    assert store.write("typed", [Row(("a",), datetime.now(UTC), {"count64": 2})]) == 1
    assert store.read([ReadRequest("typed", ("a",), ["count64"])])[0]["count64"].value == 2


def test_an_outage_fails_fast_and_the_store_recovers_by_itself(tmp_path: Path) -> None:
    with throwaway_redis(tmp_path) as (process, port):
        store = open_store(f"redis://127.0.0.1:{port}/0", CATALOG, namespace="t", timeout=0.5)
        store.write("typed", [Row(("a",), datetime.now(UTC), {"count64": 1})])
        process.kill()
        process.wait()

        started = time.monotonic()
        with pytest.raises(StoreUnavailableError, match=r"online store redis://127\.0\.0\.1"):
            store.read([ReadRequest("typed", ("a",), ["count64"])])
        with pytest.raises(StoreUnavailableError):
            store.ping()
        assert time.monotonic() - started < 1.0

    with throwaway_redis(tmp_path, port=port):
        store.ping()
        assert store.write("typed", [Row(("a",), datetime.now(UTC), {"count64": 2})]) == 1
        assert store.read([ReadRequest("typed", ("a",), ["count64"])])[0]["count64"].value == 2
    store.close()


def test_an_unanswering_server_fails_within_the_timeout(tmp_path: Path) -> None:
    with throwaway_redis(tmp_path) as (process, port):
        store = open_store(f"redis://127.0.0.1:{port}/0", CATALOG, namespace="t", timeout=0.2)
        store.ping()
        process.send_signal(19)  # SIGSTOP: the socket stays open, nothing answers
        try:
            started = time.monotonic()
            with pytest.raises(StoreUnavailableError, match="Timeout"):
                store.read([ReadRequest("typed", ("a",), ["count64"])])
            assert time.monotonic() - started < 0.6
        finally:
            process.send_signal(18)  # SIGCONT
        store.ping()
        store.close()


def test_auth_token_is_sent_and_never_shown(tmp_path: Path) -> None:
    with throwaway_redis(tmp_path) as (_, port):
        admin = redis.Redis(port=port)
        admin.config_set("requirepass", "s3cret-token")
        url = f"redis://127.0.0.1:{port}/0"

        open_store(url, CATALOG, namespace="t", password="s3cret-token").ping()
        with pytest.raises(StoreUnavailableError) as refused:
            open_store(url, CATALOG, namespace="t", password="wrong-token").ping()

        assert "wrong-token" not in str(refused.value)
        assert isinstance(open_store(url, CATALOG, password="x"), RedisOnlineStore)


def test_urls_are_checked_and_redacted() -> None:
    assert redacted("rediss://:tok3n@cache.example:6379/0") == "rediss://:***@cache.example:6379/0"
    assert redacted("redis://user:pw@h/0") == "redis://user:***@h/0"
    assert redacted("redis://h:6379/0") == "redis://h:6379/0"
    with pytest.raises(UsageError, match=r"scheme 'memcached'.*rediss://"):
        open_store("memcached://:pw@h", CATALOG)
    with pytest.raises(UsageError, match="positive"):
        open_store("redis://h", CATALOG, timeout=0)


def test_reads_survive_a_killed_connection_and_concurrent_threads(private_redis: tuple[str, redis.Redis]) -> None:
    url, client = private_redis
    store = open_store(url, CATALOG, namespace="t")
    now = datetime.now(UTC)
    store.write("merchant_stats", [Row((i,), now, {"orders_7d": i}) for i in range(20)])
    requests = [ReadRequest("merchant_stats", (i,), ("orders_7d",)) for i in range(20)]
    expected = [(i,) for i in range(20)]
    assert [r.values for r in store.read_bulk(requests)] == expected

    client.client_kill_filter(_type="normal", skipme=True)  # the store's connections, as a restart would
    assert [r.values for r in store.read_bulk(requests)] == expected

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: [r.values for r in store.read_bulk(requests)], range(200)))
    assert answers == [expected] * 200
    store.close()
