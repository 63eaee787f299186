"""One suite for every backend: the machine's Redis and a SQLite file behave the same."""

from __future__ import annotations

import multiprocessing
import random
import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest

from mlplat.errors import NotFoundError
from mlplat.online_store import (
    BulkOnlineStore,
    FeatureStatus,
    FeatureValueError,
    OnlineStore,
    ReadRequest,
    ReadResult,
    Row,
    ViewStatus,
    open_store,
)
from tests.online_specs import ALL_DTYPES, online_test_catalog

CATALOG = online_test_catalog()
TYPED = list(ALL_DTYPES)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _typed_values() -> dict[str, object]:
    return {
        "flag": True,
        "count32": -(2**31),
        "count64": 2**63 - 1,
        "ratio32": 0.25,
        "amount": -1234.5678901234,
        "label": "Zoë — 信用",
        "blob": b"\x00\xff{}|:",
        "seen_at": datetime(2026, 5, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2))),
    }


def test_every_dtype_round_trips(store: OnlineStore) -> None:
    event = _now() - timedelta(minutes=5)
    assert store.write("typed", [Row(("a-1",), event, _typed_values())]) == 1

    [got] = store.read([ReadRequest("typed", ("a-1",), TYPED)])

    assert {name: value.value for name, value in got.items()} == _typed_values()
    assert {value.status for value in got.values()} == {FeatureStatus.PRESENT}
    assert {value.event_time for value in got.values()} == {event}
    assert got["seen_at"].value.tzinfo is not None  # type: ignore[attr-defined]


def test_nulls_and_missing_features_are_present_as_none(store: OnlineStore) -> None:
    store.write("typed", [Row(("a-1",), _now(), {"flag": False, "label": None})])

    [got] = store.read([ReadRequest("typed", ("a-1",), ["flag", "label", "blob", "count64"])])

    assert {name: (v.value, v.status) for name, v in got.items()} == {
        "flag": (False, FeatureStatus.PRESENT),
        "label": (None, FeatureStatus.PRESENT),
        "blob": (None, FeatureStatus.PRESENT),
        "count64": (None, FeatureStatus.PRESENT),
    }


def test_float32_keeps_float32_precision(store: OnlineStore) -> None:
    store.write("typed", [Row(("a-1",), _now(), {"ratio32": 0.1, "amount": 0.1})])

    [got] = store.read([ReadRequest("typed", ("a-1",), ["ratio32", "amount"])])

    assert got["ratio32"].value == pytest.approx(0.1, rel=1e-7)
    assert got["amount"].value == 0.1


def test_one_read_spans_entities_and_views_in_request_order(store: OnlineStore) -> None:
    now = _now()
    store.write("typed", [Row((f"a-{i}",), now, {"count64": i}) for i in range(3)])
    store.write("merchant_stats", [Row((7,), now, {"orders_7d": 70})])
    store.write("pair_stats", [Row(("a-1", 7), now, {"purchases": 3})])

    got = store.read(
        [
            ReadRequest("pair_stats", ("a-1", 7), ["purchases"]),
            ReadRequest("typed", ("a-2",), ["count64"]),
            ReadRequest("merchant_stats", (7,), ["orders_7d"]),
            ReadRequest("typed", ("nobody",), ["count64"]),
            ReadRequest("typed", ("a-0",), ["count64"]),
        ]
    )

    assert [next(iter(r.values())).value for r in got] == [3, 2, 70, None, 0]
    assert got[3]["count64"].status is FeatureStatus.NOT_FOUND
    assert got[3]["count64"].event_time is None


def test_freshness_follows_the_views_ttl(store: OnlineStore) -> None:
    now = _now()
    ttl = timedelta(hours=1)  # the ttl of view "typed"
    store.write(
        "typed",
        [
            Row(("fresh",), now - ttl + timedelta(minutes=1), {"count64": 1}),
            Row(("stale",), now - ttl - timedelta(minutes=1), {"count64": 2}),
            Row(("expired",), now - 2 * ttl - timedelta(minutes=1), {"count64": 3}),
        ],
    )

    got = store.read([ReadRequest("typed", (key,), ["count64"]) for key in ("fresh", "stale", "expired")])

    assert [(r["count64"].value, r["count64"].status) for r in got] == [
        (1, FeatureStatus.PRESENT),
        (2, FeatureStatus.OUTSIDE_MAX_AGE),
        (None, FeatureStatus.NOT_FOUND),
    ]


def test_an_older_event_never_overwrites_a_newer_one(store: OnlineStore) -> None:
    now = _now()
    assert store.write("typed", [Row(("a-1",), now, {"count64": 2})]) == 1
    assert store.write("typed", [Row(("a-1",), now - timedelta(seconds=1), {"count64": 1})]) == 0
    assert store.write("typed", [Row(("a-1",), now, {"count64": 3})]) == 1  # same event time: rewrite

    [got] = store.read([ReadRequest("typed", ("a-1",), ["count64"])])

    assert got["count64"].value == 3


def _write_shuffled(url: str, namespace: str, seed: int) -> None:
    store = open_store(url, CATALOG, namespace=namespace, timeout=10.0)
    base = _now() - timedelta(minutes=30)
    rng = random.Random(seed)
    seconds = list(range(200))
    rng.shuffle(seconds)
    for second in seconds:
        rows = [Row((f"e{k}",), base + timedelta(seconds=second), {"count64": second}) for k in range(5)]
        store.write("typed", rows)
    store.close()


def test_parallel_writers_keep_the_newest_event(store: OnlineStore, store_url: str, namespace: str) -> None:
    threads = [threading.Thread(target=_write_shuffled, args=(store_url, namespace, seed)) for seed in range(3)]
    for thread in threads:
        thread.start()
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_write_shuffled, args=(store_url, namespace, seed)) for seed in (7, 8)]
    for process in processes:
        process.start()
    for thread in threads:
        thread.join()
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0

    got = store.read([ReadRequest("typed", (f"e{k}",), ["count64"]) for k in range(5)])

    assert [r["count64"].value for r in got] == [199] * 5


def test_batches_write_in_chunks(store: OnlineStore) -> None:
    rows = [Row((f"k{i}",), _now(), {"count64": i}) for i in range(1_203)]

    assert store.write("typed", rows) == 1_203
    got = store.read([ReadRequest("typed", (f"k{i}",), ["count64"]) for i in range(0, 1_203, 100)])

    assert [r["count64"].value for r in got] == list(range(0, 1_203, 100))


@pytest.mark.parametrize(
    ("view", "row", "message"),
    [
        ("typed", Row(("a",), datetime(2026, 1, 1, tzinfo=UTC), {"count32": 2**31}), "typed:count32 (int32)"),
        ("typed", Row(("a",), datetime(2026, 1, 1, tzinfo=UTC), {"flag": 1}), "typed:flag (bool): 1 is not a bool"),
        ("typed", Row(("a",), datetime(2026, 1, 1, tzinfo=UTC), {"amount": "1.5"}), "typed:amount"),
        ("typed", Row(("a",), datetime(2026, 1, 1, tzinfo=UTC), {"cuont64": 1}), "did you mean 'count64'"),
        ("typed", Row(("a",), datetime(2026, 1, 1), {"count64": 1}), "has no timezone"),
        ("typed", Row((1,), datetime(2026, 1, 1, tzinfo=UTC), {}), "applicant_id must be a string"),
        ("merchant_stats", Row(("7",), datetime(2026, 1, 1, tzinfo=UTC), {}), "merchant_id must be an integer"),
        ("pair_stats", Row(("a",), datetime(2026, 1, 1, tzinfo=UTC), {}), "keyed by (applicant_id, merchant_id)"),
    ],
)
def test_invalid_rows_are_refused_with_the_reason(store: OnlineStore, view: str, row: Row, message: str) -> None:
    with pytest.raises(FeatureValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        store.write(view, [row])


def test_unknown_views_and_features_list_what_exists(store: OnlineStore) -> None:
    with pytest.raises(NotFoundError, match=r"'typo' does not exist; defined: .*merchant_stats"):
        store.read([ReadRequest("typo", ("a",), ["x"])])
    with pytest.raises(NotFoundError, match="'offline_only' does not exist"):
        store.write("offline_only", [])
    with pytest.raises(NotFoundError, match=r"'typed:ratio' does not exist; typed has .*did you mean 'ratio32'"):
        store.read([ReadRequest("typed", ("a",), ["ratio"])])


def test_ping_and_empty_calls(store: OnlineStore) -> None:
    store.ping()
    assert store.read([]) == []
    assert store.write("typed", []) == 0


def test_bulk_reads_share_status_and_time_per_entity_and_view(store: BulkOnlineStore) -> None:
    event = _now()
    store.write("typed", [Row(("a",), event, {"count64": 1, "label": "x"})])

    found = store.read_bulk(
        [ReadRequest("typed", ("a",), ["label", "count64"]), ReadRequest("typed", ("b",), ("count64",))]
    )

    assert found == [
        ReadResult(FeatureStatus.PRESENT, event, ("x", 1)),
        ReadResult(FeatureStatus.NOT_FOUND, None, (None,)),
    ]


def test_view_status_keeps_the_newest_event_and_counts_runs(store: OnlineStore) -> None:
    assert store.view_status() == {}
    newest = _now() - timedelta(minutes=1)
    store.write("typed", [Row(("a",), newest - timedelta(minutes=5), {}), Row(("b",), newest, {})])
    # An older batch written later (a backfill, a slow writer) never moves the newest event back.
    store.write("typed", [Row(("c",), newest - timedelta(minutes=30), {})])
    store.record_run("typed", succeeded=True)
    store.record_run("typed", succeeded=True)
    store.record_run("typed", succeeded=False)

    status = store.view_status()

    assert status == {"typed": ViewStatus(int(newest.timestamp() * 1_000_000), runs_succeeded=2, runs_failed=1)}
