"""Offline throughput: materialization into Redis, and point-in-time training sets.

    PYTHONPATH=. .venv/bin/python benchmarks/offline.py [--rows 1000000] [--labels 1000000] [--repeat 3] [--no-spark]

What runs, in one go, on the machine's Redis (127.0.0.1:6379, private namespaces that
are deleted afterwards) and a temporary directory:

* Materialization of ``--rows`` entities of the example ``bureau_profile`` view (9
  features: int32, float32, float64, bool), one source row per entity, event times in
  the last week (so nothing is past its ttl):
  - the embedded engine (DuckDB -> online store module -> Redis, batches of 10,000;
    registry on SQLite), end to end: reading the parquet, picking each entity's latest
    row, encoding, the compare-and-set Lua writes;
  - the Spark engine in local[2] (each partition encodes and writes with its own
    pipelined connection), end to end including the Spark job;
  - baseline, same run: redis-py pipelined ``SET`` of the same keys and the same
    already-encoded blobs (no reading, no encoding, no compare-and-set).
* A training set of ``--labels`` labels (sampled from synthetic loans) x the 4 example
  views (every feature of both example models) with the DuckDB engine, beside a plain
  DuckDB scan of the same five parquet files (every column read once, nothing joined),
  and the same join by event time alone (``availability: eventTime``, an ASOF join).

Reports medians of ``--repeat`` runs (Spark once: it takes minutes) as a markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import redis

from mlplat.catalog import Catalog
from mlplat.loader import load_catalog
from mlplat.offline.engine import Engine
from mlplat.offline.materialize import MaterializeOptions, OnlineTarget, materialize_view, rows_from_batch
from mlplat.offline.sources import TIMESTAMP, offline_table
from mlplat.offline.training_set import build_training_set
from mlplat.online_store.codec import WireFormat
from mlplat.registry import Registry
from mlplat.spec.kinds import Availability, FeatureView
from mlplat.synthetic import SyntheticConfig, generate

REDIS_URL = "redis://127.0.0.1:6379/0"
REPO = Path(__file__).resolve().parent.parent


def bureau_source(root: Path, rows: int, now: datetime) -> None:
    """One bureau row per entity, event times within the last week."""
    rng = np.random.default_rng(1)
    event = np.datetime64(now.replace(tzinfo=None), "us") - rng.integers(3600, 7 * 86400, rows) * np.timedelta64(1, "s")
    table = pa.table(
        {
            "applicant_id": pa.array([f"a{i:08d}" for i in range(rows)]),
            "event_timestamp": pa.array(event, TIMESTAMP),
            "created_at": pa.array(event + np.timedelta64(60, "s"), TIMESTAMP),
            "fico_score": pa.array(rng.integers(300, 851, rows), pa.int32()),
            "revolving_utilization": pa.array(rng.random(rows), pa.float32()),
            "open_tradelines": pa.array(rng.integers(0, 30, rows), pa.int32()),
            "delinquencies_24m": pa.array(rng.integers(0, 5, rows), pa.int32()),
            "inquiries_6m": pa.array(rng.integers(0, 10, rows), pa.int32()),
            "credit_history_months": pa.array(rng.integers(1, 400, rows), pa.int32()),
            "total_revolving_balance": pa.array(rng.random(rows) * 20000, pa.float64()),
            "has_bankruptcy": pa.array(rng.random(rows) < 0.02),
            "thin_file": pa.array(rng.random(rows) < 0.1),
        }
    )
    pq.write_table(table, root / "bureau_snapshots.parquet")


def drop_namespace(client: redis.Redis, namespace: str) -> None:
    batch = []
    for key in client.scan_iter(match=f"{namespace}:*", count=10_000):
        batch.append(key)
        if len(batch) >= 10_000:
            client.unlink(*batch)
            batch = []
    if batch:
        client.unlink(*batch)


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def materialize_once(catalog: Catalog, root: Path, engine: Engine, now: datetime, scratch: Path) -> tuple[float, str]:
    namespace = f"bench{uuid.uuid4().hex[:8]}"
    registry = Registry.open(f"sqlite:///{scratch}/{namespace}.db")
    options = MaterializeOptions(root, engine=engine, end=now + timedelta(seconds=1))
    target = OnlineTarget(REDIS_URL, namespace)
    seconds = timed(lambda: materialize_view(catalog, "bureau_profile", target, registry, options))
    registry.close()
    return seconds, namespace


def raw_pipelined_sets(catalog: Catalog, root: Path, client: redis.Redis) -> float:
    """Encode outside the clock, then time only pipelined SETs of the same keys and blobs."""
    table = offline_table(catalog, "bureau_profile")
    wire = WireFormat(catalog, f"raw{uuid.uuid4().hex[:8]}")
    encoded = []
    for batch in pq.read_table(root / "bureau_snapshots.parquet").to_batches(10_000):
        encoded.extend(wire.encode_rows("bureau_profile", rows_from_batch(batch, table)))

    def write() -> None:
        for start in range(0, len(encoded), 10_000):
            pipe = client.pipeline(transaction=False)
            for row in encoded[start : start + 10_000]:
                pipe.set(row.key, row.blob, pxat=row.expires_micros // 1000)
            pipe.execute()

    seconds = timed(write)
    drop_namespace(client, wire.namespace)
    return seconds


def training_set_inputs(catalog: Catalog, root: Path, labels: int) -> pa.Table:
    generate(catalog, root, SyntheticConfig(seed=7, applicants=100_000))
    loans = pq.read_table(root / "loan_outcomes.parquet")
    picks = np.random.default_rng(2).integers(0, loans.num_rows, labels)
    return loans.take(pa.array(np.sort(picks)))


def plain_scan(root: Path) -> None:
    """Read every value of the five files once, joining nothing."""
    connection = duckdb.connect()
    for name in ("bureau_snapshots", "repayment_rollups", "application_velocity", "merchant_stats", "loan_outcomes"):
        # hash every value: counts, minima and maxima could be answered from parquet statistics alone
        connection.execute(f"SELECT sum(hash(COLUMNS(*))) FROM read_parquet('{root / name}.parquet')").fetchall()
    connection.close()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--labels", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-spark", action="store_true")
    parser.add_argument("--only", choices=["materialize", "training"], default=None, help="run one part")
    args = parser.parse_args(argv)
    catalog = load_catalog(REPO / "specs")
    client = redis.Redis.from_url(REDIS_URL)
    now = datetime.now(UTC)
    lines = ["| measurement | median | rate | baseline (same run) | ratio |", "| --- | ---: | ---: | --- | ---: |"]
    with tempfile.TemporaryDirectory(prefix="mlplat-bench-") as scratch_dir:
        scratch = Path(scratch_dir)
        if args.only != "training":
            lines.extend(materialization_lines(catalog, client, scratch, now, args))
        if args.only != "materialize":
            lines.append(training_set_line(catalog, scratch, args))
    client.close()
    print("\n".join(lines))


def materialization_lines(
    catalog: Catalog, client: redis.Redis, scratch: Path, now: datetime, args: argparse.Namespace
) -> list[str]:
    source = scratch / "materialize"
    source.mkdir()
    bureau_source(source, args.rows, now)
    raw = statistics.median(raw_pipelined_sets(catalog, source, client) for _ in range(args.repeat))
    embedded = []
    for _ in range(args.repeat):
        seconds, namespace = materialize_once(catalog, source, Engine.DUCKDB, now, scratch)
        drop_namespace(client, namespace)
        embedded.append(seconds)
        print(f"embedded materialization: {seconds:.1f} s", file=sys.stderr)
    median = statistics.median(embedded)
    lines = [
        f"| materialize {args.rows:,} rows, embedded (DuckDB) -> Redis | {median:.1f} s | "
        f"{args.rows / median:,.0f} rows/s | redis-py pipelined SET of the encoded rows: {raw:.1f} s "
        f"({args.rows / raw:,.0f} rows/s) | {median / raw:.1f}x |"
    ]
    if not args.no_spark:
        seconds, namespace = materialize_once(catalog, source, Engine.SPARK, now, scratch)
        drop_namespace(client, namespace)
        lines.append(
            f"| materialize {args.rows:,} rows, Spark local[2] -> Redis (1 run) | {seconds:.1f} s | "
            f"{args.rows / seconds:,.0f} rows/s | same baseline: {raw:.1f} s | {seconds / raw:.1f}x |"
        )
    return lines


def training_set_line(catalog: Catalog, scratch: Path, args: argparse.Namespace) -> str:
    offline = scratch / "training"
    labels = training_set_inputs(catalog, offline, args.labels)
    refs = list(dict.fromkeys([*catalog.model("default_risk").spec.features, *catalog.model("fraud").spec.features]))
    joined = [
        timed(lambda: build_training_set(catalog, labels, refs, offline, engine=Engine.DUCKDB))
        for _ in range(args.repeat)
    ]
    by_event = event_time_catalog(catalog)
    event_joined = [
        timed(lambda: build_training_set(by_event, labels, refs, offline, engine=Engine.DUCKDB))
        for _ in range(args.repeat)
    ]
    scans = [timed(lambda: plain_scan(offline)) for _ in range(args.repeat)]
    join_median, scan_median = statistics.median(joined), statistics.median(scans)
    event_median = statistics.median(event_joined)
    return (
        f"| training set, {args.labels:,} labels x 4 views ({len(refs)} inputs), DuckDB | {join_median:.1f} s | "
        f"{args.labels / join_median:,.0f} labels/s | plain DuckDB scan of the 5 files (every value): "
        f"{scan_median:.2f} s | {join_median / scan_median:.0f}x |\n"
        f"| same, every view `availability: eventTime` (ASOF join) | {event_median:.1f} s | "
        f"{args.labels / event_median:,.0f} labels/s | the written-time join above: {join_median:.1f} s | "
        f"{join_median / event_median:.1f}x |"
    )


def event_time_catalog(catalog: Catalog) -> Catalog:
    """``catalog`` with every view joined by event time alone: the cost baseline of availability."""
    objects = [
        obj.model_copy(update={"spec": obj.spec.model_copy(update={"availability": Availability.EVENT_TIME})})
        if isinstance(obj, FeatureView)
        else obj
        for obj in catalog.objects()
    ]
    return Catalog(objects)


if __name__ == "__main__":
    main(sys.argv[1:])
