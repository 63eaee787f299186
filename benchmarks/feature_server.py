"""Feature server latency under open-loop load, beside a raw redis-py read of the same keys.

    PYTHONPATH=. .venv/bin/python benchmarks/feature_server.py [--rate 500] [--seconds 20]

What runs, all in one go on the machine's Redis (127.0.0.1:6379, a private namespace):

* 3 online views x 10 features (int32, int64, float32, float64, bool) keyed by
  applicant, 5,000 applicants written through the online store module.
* The real server: ``mlplat-serve features`` in its own process, 1 uvicorn worker
  (uvloop + httptools). One worker because the machine has 2 cores and the load
  generator needs one of them: a second worker would only compete with the generator
  and Redis for the same cores. In production, scale with pod replicas instead.
* Open-loop load: requests are sent on a fixed schedule (``rate`` per second) whether or
  not earlier ones have finished, over a pool of keep-alive connections, so a slow
  answer cannot hold back the offered load. Latency is measured from each request's
  actual send to its last response byte; the generator's own lateness against the
  schedule is reported separately (``lag p99``) to show it kept up.
* Baselines in the same run, on the same keys at the same rate: a raw redis-py pipeline
  of GETs (no decoding), and the online store's ``read_bulk()`` in-process (one MGET plus
  decoding and freshness: what the server calls).

Scenarios: 1 entity x 30 features at ``--rate``, and 100 entities x 30 features at
``--rate-100``, each run ``--repeats`` times (interleaved) for ``--seconds``. Prints a
markdown table of medians over the runs, with each run's p99, since other work on a
shared machine moves the tail from one run to the next.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import redis
import uvloop

from mlplat.catalog import Catalog
from mlplat.loader import catalog_from_values
from mlplat.online_store import ReadRequest, Row, open_store
from mlplat.online_store.codec import WireFormat

REPO = Path(__file__).resolve().parent.parent
VIEWS = ("bench_profile", "bench_repayment", "bench_velocity")
DTYPES = ("int32", "int64", "float32", "float64", "bool")
ENTITIES = 5_000


def _catalog() -> Catalog:
    def doc(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {"apiVersion": "mlplat/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}

    docs = [
        doc("Entity", "applicant", {"joinKey": "applicant_id"}),
        doc("Source", "bench_events", {"path": "bench.parquet", "timestampField": "event_timestamp"}),
    ]
    for view in VIEWS:
        features = [{"name": f"f{i}", "dtype": DTYPES[i % len(DTYPES)]} for i in range(10)]
        docs.append(
            doc(
                "FeatureView",
                view,
                {"entities": ["applicant"], "source": "bench_events", "ttl": "30d", "features": features},
            )
        )
    return catalog_from_values(docs, "<benchmark specs>")


def _value(dtype: str, rng: random.Random) -> object:
    return {
        "int32": rng.randint(0, 1000),
        "int64": rng.randint(0, 10**12),
        "float32": rng.random(),
        "float64": rng.random() * 1e4,
        "bool": rng.random() < 0.5,
    }[dtype]


def _populate(catalog: Catalog, url: str, namespace: str) -> None:
    store = open_store(url, catalog, namespace=namespace, timeout=5)
    rng = random.Random(7)
    now = datetime.now(UTC) - timedelta(minutes=1)
    for view in VIEWS:
        features = catalog.feature_view(view).spec.features
        rows = [
            Row((f"app-{i}",), now, {f.name: _value(f.dtype.value, rng) for f in features}) for i in range(ENTITIES)
        ]
        store.write(view, rows)
    store.close()


# --- statistics -------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    name: str
    offered: float
    achieved: float
    latencies: Sequence[float]  # seconds
    lag_p99: float
    errors: int
    cpu_per_request: float | None = None  # seconds of server CPU, for the HTTP rows

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary_row(runs: Sequence[tuple[Result, Result | None]]) -> str:
    """One table row over repeated runs: medians, the p99 of each run, the median gap to raw."""

    def median_of(values: list[float]) -> float:
        return statistics.median(values)

    results = [result for result, _ in runs]
    p50, p99, p999 = (median_of([r.quantile(q) * 1000 for r in results]) for q in (0.5, 0.99, 0.999))
    achieved = median_of([r.achieved for r in results])
    lag = median_of([r.lag_p99 * 1000 for r in results])
    errors = sum(r.errors for r in results)
    each_p99 = " / ".join(f"{r.quantile(0.99) * 1000:.1f}" for r in results)
    versus = ""
    if runs[0][1] is not None:
        gaps = [(r.quantile(0.5) - b.quantile(0.5)) * 1000 for r, b in runs if b is not None]
        versus = f"{median_of(gaps):+.2f} ms"
    return (
        f"| {results[0].name} | {results[0].offered:.0f} | {achieved:.0f} | {p50:.2f} | {p99:.2f} | {p999:.2f} "
        f"| {each_p99} | {lag:.2f} | {errors} | {versus} |"
    )


# --- baselines (in-process, on a schedule) ----------------------------------------------------


def scheduled(name: str, call: Callable[[int], object], rate: float, seconds: float) -> Result:
    """Run ``call(i)`` at ``rate`` per second for ``seconds``; latency from each call's start."""
    count = int(rate * seconds)
    latencies, lags = [], []
    start = time.perf_counter() + 0.05
    for i in range(count):
        due = start + i / rate
        while (now := time.perf_counter()) < due:
            time.sleep(max(0.0, due - now - 0.0002))
        began = time.perf_counter()
        call(i)
        latencies.append(time.perf_counter() - began)
        lags.append(began - due)
    elapsed = time.perf_counter() - start
    return Result(name, rate, count / elapsed, latencies, sorted(lags)[int(0.99 * len(lags))], 0)


# --- open-loop HTTP load ----------------------------------------------------------------------


class Connections:
    """Keep-alive HTTP/1.1 connections; a request takes an idle one or opens another."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def open(self, count: int) -> None:
        for _ in range(count):
            self.idle.append(await asyncio.open_connection(self.host, self.port))

    async def post(self, path: str, body: bytes) -> tuple[int, float]:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        began = time.perf_counter()
        connection = self.idle.pop() if self.idle else await asyncio.open_connection(self.host, self.port)
        try:
            status = await self._exchange(connection, head + body)
        except (asyncio.IncompleteReadError, ConnectionError):
            # The server closed an idle keep-alive connection: resend on a new one, as
            # HTTP clients do; the time of the failed attempt still counts.
            connection = await asyncio.open_connection(self.host, self.port)
            status = await self._exchange(connection, head + body)
        elapsed = time.perf_counter() - began
        self.idle.append(connection)
        return status, elapsed

    @staticmethod
    async def _exchange(connection: tuple[asyncio.StreamReader, asyncio.StreamWriter], request: bytes) -> int:
        reader, writer = connection
        writer.write(request)
        header = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in header.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await reader.readexactly(length)
        return int(header[9:12])

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


async def open_loop(name: str, port: int, bodies: Sequence[bytes], rate: float, seconds: float) -> Result:
    connections = Connections("127.0.0.1", port)
    await connections.open(16)
    count = int(rate * seconds)
    latencies: list[float] = []
    lags: list[float] = []
    errors = 0
    loop = asyncio.get_running_loop()

    async def one(i: int, due: float) -> None:
        nonlocal errors
        lags.append(loop.time() - due)
        status, elapsed = await connections.post("/get-online-features", bodies[i % len(bodies)])
        if status != 200:
            errors += 1
        latencies.append(elapsed)

    start = loop.time() + 0.05
    tasks = []
    for i in range(count):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(i, due)))
    await asyncio.gather(*tasks)
    elapsed = loop.time() - start
    connections.close()
    return Result(name, rate, count / elapsed, latencies, sorted(lags)[int(0.99 * len(lags))], errors)


# --- the run ------------------------------------------------------------------------------------


def start_server(
    catalog: Catalog, url: str, namespace: str, workdir: Path, tree: Path = REPO
) -> tuple[subprocess.Popen[bytes], int]:
    """``mlplat-serve features`` of the code in ``tree`` (default: this checkout) on a free port."""
    snapshot = workdir / "catalog.json"
    snapshot.write_text(json.dumps(catalog.to_snapshot()))
    sys.path.insert(0, str(REPO))
    from tests.servers import free_port  # noqa: PLC0415 - the repository's helper, not a package module

    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(tree),
        "MLPLAT_CATALOG": str(snapshot),
        "MLPLAT_ONLINE_STORE_URL": url,
        "MLPLAT_ONLINE_STORE_NAMESPACE": namespace,
        "MLPLAT_HOST": "127.0.0.1",
        "MLPLAT_PORT": str(port),
        "MLPLAT_WORKERS": "1",
        # The benchmark catalog names no callers; benchmarks/identity.py times token checks.
        "MLPLAT_AUTH": "off",
    }
    log = (workdir / "server.log").open("wb")
    # cwd: ``-m`` puts the working directory first on the server's path, before PYTHONPATH.
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "features"], env=env, stdout=log, stderr=log, cwd=tree
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200:
                return process, port
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"server did not start; see {workdir / 'server.log'}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scenario(
    catalog: Catalog,
    url: str,
    namespace: str,
    server: subprocess.Popen[bytes],
    port: int,
    entities: int,
    rate: float,
    seconds: float,
) -> list[tuple[Result, Result | None]]:
    rng = random.Random(entities)
    batches = [[f"app-{rng.randrange(ENTITIES)}" for _ in range(entities)] for _ in range(500)]
    refs = [f"{view}:f{i}" for view in VIEWS for i in range(10)]
    bodies = [
        json.dumps({"features": refs, "entities": {"applicant_id": batch}, "full_feature_names": True}).encode()
        for batch in batches
    ]

    wire = WireFormat(catalog, namespace)
    keys = [[wire.key(wire.codec(view), (entity,)) for entity in batch for view in VIEWS] for batch in batches]
    client = redis.Redis.from_url(url)

    def raw(i: int) -> object:
        pipe = client.pipeline(transaction=False)
        for key in keys[i % len(keys)]:
            pipe.get(key)
        return pipe.execute()

    store = open_store(url, catalog, namespace=namespace)
    reads = [
        [ReadRequest(view, (entity,), tuple(f"f{i}" for i in range(10))) for entity in batch for view in VIEWS]
        for batch in batches
    ]

    label = f"{entities} entity x 30 features" if entities == 1 else f"{entities} entities x 30 features"
    scheduled("warm-up", raw, rate, 1)
    baseline = scheduled(f"raw redis-py pipeline, {label}", raw, rate, seconds)
    in_process = scheduled(
        f"store.read_bulk() in-process, {label}", lambda i: store.read_bulk(reads[i % len(reads)]), rate, seconds
    )
    asyncio.run(open_loop("warm-up", port, bodies, rate, 2))
    cpu_before = cpu_seconds(server.pid)
    served = asyncio.run(open_loop(f"feature server HTTP, {label}", port, bodies, rate, seconds))
    cpu = (cpu_seconds(server.pid) - cpu_before) / len(served.latencies)
    served = dataclasses.replace(served, cpu_per_request=cpu)
    client.close()
    store.close()
    return [(baseline, None), (in_process, baseline), (served, baseline)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--rate", type=float, default=500, help="requests/s for 1 entity")
    parser.add_argument("--rate-100", type=float, default=100, help="requests/s for 100 entities")
    parser.add_argument("--seconds", type=float, default=10, help="length of each measured phase")
    parser.add_argument("--repeats", type=int, default=3, help="runs of every phase; medians are reported")
    args = parser.parse_args()

    uvloop.install()
    catalog = _catalog()
    namespace = f"bench{uuid.uuid4().hex[:8]}"
    _populate(catalog, args.redis, namespace)
    load_before = os.getloadavg()
    runs: dict[str, list[tuple[Result, Result | None]]] = {}
    with tempfile.TemporaryDirectory() as workdir:
        process, port = start_server(catalog, args.redis, namespace, Path(workdir))
        try:
            for _ in range(args.repeats):
                for entities, rate in ((1, args.rate), (100, args.rate_100)):
                    measured = scenario(catalog, args.redis, namespace, process, port, entities, rate, args.seconds)
                    for result, baseline in measured:
                        runs.setdefault(result.name, []).append((result, baseline))
        finally:
            process.terminate()
            process.wait(timeout=20)
            client = redis.Redis.from_url(args.redis)
            for key in client.scan_iter(f"{namespace}:*", count=10_000):
                client.delete(key)
            client.close()
    loads = ", ".join(f"{x:.2f}" for x in (*load_before, *os.getloadavg()))
    print(f"cores: {os.cpu_count()}; load average (1, 5, 15 min) before, after: {loads}")
    print(f"{args.repeats} runs of {args.seconds:.0f} s per row; medians over the runs")
    print(
        "| what | offered req/s | achieved req/s | p50 ms | p99 ms | p99.9 ms | p99 of each run | "
        "generator lag p99 ms | errors | p50 minus raw p50 |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |")
    for name_runs in runs.values():
        print(summary_row(name_runs))
    for name, name_runs in runs.items():
        cpu = [r.cpu_per_request for r, _ in name_runs if r.cpu_per_request is not None]
        if cpu:
            print(f"server CPU per request, {name}: {statistics.median(cpu) * 1000:.2f} ms (median of runs)")


if __name__ == "__main__":
    main()
