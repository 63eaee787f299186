"""Serving cost and overload: server CPU per request beside the same work in-process, and load at 2x saturation.

    PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python benchmarks/serving_cost.py [--seconds 5]

For each workload — a decision of ``default_risk`` (features from Redis, exact reason
codes, the durable decision log with ``fsync``), a feature read of 1 entity x 30
features, and one of 100 entities x 30 features — against the real server in its own
process (uvicorn, uvloop, httptools, one worker, default settings: the in-flight cap is
the one derived from the latency objective), on loopback with the machine's Redis:

1. **in-process**: the same work in this process (the decision path: store read, vector,
   score, reason codes; the store's ``read_bulk`` of the same keys), CPU per call from
   ``time.process_time``;
2. **sequential**: one keep-alive connection, one request at a time; server CPU per
   request (user + system of the server process, from /proc) and its ratio to (1);
3. **saturation**: S = 1 / (2)'s server CPU per request, the rate at which the one
   worker's event loop is busy all the time (a closed loop from this generator would
   measure the generator: it shares the two cores);
4. **half load**: open loop at S/2 (requests leave on schedule; latency counts from the
   scheduled time); p99;
5. **overload then recovery**, one schedule without a gap: 2S for ``--seconds``, then
   S/2 for ``--recovery-seconds``. Reports the admitted requests' p99 during the overload
   and its ratio to (4), the share shed (503), the shed answers' p50/p99, and the time
   from the end of the overload to the last request of the recovery phase that was
   shed or slower than twice the half-load p99. Skipped when 2S is more than
   ``--max-offered`` requests/s, which one Python generator cannot send on time.

Loops are bounded by request counts and seconds. On a shared host the generator
competes with the server for the two cores: its send lag is printed beside each phase.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import orjson
import redis
import uvloop

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import feature_server as fb  # noqa: E402
from benchmarks import model_server as mb  # noqa: E402
from mlplat.loader import load_catalog  # noqa: E402
from mlplat.models import ArtifactStore, load_version  # noqa: E402
from mlplat.models.policy import assemble_inputs, reason_codes  # noqa: E402
from mlplat.online_store import ReadRequest, open_store  # noqa: E402
from services.model_server.registry import view_reads  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Workload:
    """One kind of request: its path and bodies, the same work in-process, and the server."""

    name: str
    path: str
    bodies: Sequence[bytes]
    in_process: Callable[[int], object]
    server: Callable[[], contextlib.AbstractContextManager[tuple[int, int]]]


@dataclasses.dataclass(frozen=True)
class Sent:
    due: float  # seconds from the start of the schedule
    latency: float  # seconds from the scheduled time to the last byte of the answer
    status: int


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def cpu_per_call(call: Callable[[int], object], n: int) -> float:
    for i in range(min(200, n)):
        call(i)
    started = time.process_time()
    for i in range(n):
        call(i)
    return (time.process_time() - started) / n


async def sequential(port: int, work: Workload, n: int) -> list[float]:
    """Latencies of ``n`` requests one at a time (after 100 not measured); non-200s are counted as NaN."""
    connections = fb.Connections("127.0.0.1", port)
    for i in range(100):
        await connections.post(work.path, work.bodies[i % len(work.bodies)])
    out = []
    for i in range(n):
        status, elapsed = await connections.post(work.path, work.bodies[i % len(work.bodies)])
        out.append(elapsed if status == 200 else float("nan"))
    return out


async def open_loop(port: int, work: Workload, phases: Sequence[tuple[float, float]]) -> tuple[list[Sent], float]:
    """Requests on a fixed schedule of ``(rate, seconds)`` phases; the client's send lag p99 too.

    A thread paces the schedule with ``time.sleep``: the event loop's own timers wake up to
    a millisecond late, which would be counted as server latency.
    """
    loop = asyncio.get_running_loop()
    connections = fb.Connections("127.0.0.1", port)
    await connections.open(16)
    sent: list[Sent] = []
    lags: list[float] = []
    schedule: list[float] = []
    offset = 0.0
    for rate, seconds in phases:
        schedule += [offset + i / rate for i in range(int(rate * seconds))]
        offset += seconds
    start = time.perf_counter() + 0.05
    tasks: list[asyncio.Task[None]] = []
    done = asyncio.Event()

    async def one(i: int, due: float) -> None:
        lags.append(time.perf_counter() - (start + due))
        status, _ = await connections.post(work.path, work.bodies[i % len(work.bodies)])
        sent.append(Sent(due, time.perf_counter() - (start + due), status))

    def launch(i: int, due: float) -> None:
        tasks.append(asyncio.create_task(one(i, due)))

    def pace() -> None:
        for i, due in enumerate(schedule):
            delay = start + due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            loop.call_soon_threadsafe(launch, i, due)
        loop.call_soon_threadsafe(done.set)

    pacer = threading.Thread(target=pace, name="pacer", daemon=True)
    pacer.start()
    await done.wait()
    await asyncio.gather(*tasks)
    pacer.join()
    return sent, pct(lags, 0.99)


def measure(work: Workload, args: argparse.Namespace) -> dict[str, object]:
    row: dict[str, object] = {"workload": work.name}
    in_process = cpu_per_call(work.in_process, args.in_process_calls)
    row["in_process_cpu_ms"] = round(in_process * 1000, 3)
    with work.server() as (port, pid):
        before = mb.cpu_seconds(pid)
        latencies = asyncio.run(sequential(port, work, args.sequential))
        server_cpu = (mb.cpu_seconds(pid) - before) / (args.sequential + 100)
        row["server_cpu_ms"] = round(server_cpu * 1000, 3)
        row["cpu_ratio"] = round(server_cpu / in_process, 2)
        answered = [s for s in latencies if s == s]  # NaN: not 200 (a store timeout on a busy host)
        row["sequential_non_200"] = len(latencies) - len(answered)
        row["sequential_p50_ms"] = round(statistics.median(answered) * 1000, 3)
        row["sequential_p99_ms"] = round(pct(answered, 0.99) * 1000, 3)

        saturation = 1 / server_cpu
        row["saturation_rps"] = round(saturation, 1)
        if 2 * saturation > args.max_offered:
            row["overload"] = f"not run: 2S = {2 * saturation:.0f}/s is more than this generator sends on time"
            return row

        half, half_lag = asyncio.run(open_loop(port, work, [(saturation / 2, args.seconds)]))
        half_p99 = pct([s.latency for s in half if s.status == 200], 0.99)
        row["half_load_p99_ms"] = round(half_p99 * 1000, 3)
        row["half_load_non_200"] = sum(s.status != 200 for s in half)
        row["half_load_send_lag_p99_ms"] = round(half_lag * 1000, 3)

        before = mb.cpu_seconds(pid)
        sent, lag = asyncio.run(
            open_loop(port, work, [(2 * saturation, args.seconds), (saturation / 2, args.recovery_seconds)])
        )
        cpu = mb.cpu_seconds(pid) - before
        over = [s for s in sent if s.due < args.seconds]
        admitted = [s.latency for s in over if s.status == 200]
        shed_answers = [s.latency for s in over if s.status == 503]
        row["overload_offered_rps"] = round(2 * saturation, 1)
        row["overload_admitted_rps"] = round(len(admitted) / args.seconds, 1)
        row["overload_admitted_p99_ms"] = round(pct(admitted, 0.99) * 1000, 3)
        row["overload_p99_over_half_load_p99"] = round(pct(admitted, 0.99) / half_p99, 2)
        row["overload_shed_share"] = round(len(shed_answers) / len(over), 3)
        row["overload_other_status"] = sum(s.status not in (200, 503) for s in over)
        row["shed_answer_p50_ms"] = round(statistics.median(shed_answers) * 1000, 3) if shed_answers else None
        row["shed_answer_p99_ms"] = round(pct(shed_answers, 0.99) * 1000, 3) if shed_answers else None
        row["overload_cpu_ms_per_request"] = round(cpu * 1000 / len(sent), 3)
        row["overload_send_lag_p99_ms"] = round(lag * 1000, 3)
        bad = [s.due for s in sent if s.due >= args.seconds and (s.status != 200 or s.latency > 2 * half_p99)]
        row["recovery_s"] = round(max(bad) - args.seconds, 3) if bad else 0.0
    return row


def workloads(args: argparse.Namespace, work: Path) -> tuple[list[Workload], Callable[[], None]]:
    """The three workloads over one seeded Redis namespace; and the cleanup."""
    namespace = f"bench{os.getpid()}"
    catalog = load_catalog(REPO / "specs")
    snapshot = work / "catalog.json"
    snapshot.write_text(json.dumps(catalog.to_snapshot()))
    mb.seed(catalog, args.redis_url, namespace)
    root = args.artifact_root

    model = "default_risk"
    store = open_store(args.redis_url, catalog, namespace=namespace, timeout=1.0)
    state = load_version(catalog, ArtifactStore(root), model, catalog.model(model).spec.rollout.primary)
    assert state.scorer is not None
    scorer, inputs = state.scorer, catalog.model_inputs(model)
    reads = view_reads(catalog, inputs)
    policy = catalog.model(model).spec.decision
    decision_bodies = [mb.request_body(model, i) for i in range(500)]

    def decide(i: int) -> object:
        body = decision_bodies[i % len(decision_bodies)]
        entities = body["entities"]
        assert isinstance(entities, dict)
        results = store.read(
            [ReadRequest(r.view, tuple(entities[k.request_key] for k in r.keys), r.features) for r in reads]
        )
        stored = {f"{r.view}:{f}": found[f] for r, found in zip(reads, results, strict=True) for f in r.features}
        vector = assemble_inputs(inputs, stored, body["values"], policy.on_missing)  # type: ignore[arg-type]
        _, explanation = scorer.score_and_explain(vector.row())
        return reason_codes(inputs, vector, explanation, policy.reason_codes)

    @contextlib.contextmanager
    def model_server() -> Iterator[tuple[int, int]]:
        with mb.running_server(snapshot, root, args.redis_url, namespace, work, "fsync") as (port, pid):
            yield port, pid

    found: list[Workload] = [
        Workload(
            "decision default_risk (Redis, reason codes, log fsync)",
            f"/v1/decisions/{model}",
            [orjson.dumps(b) for b in decision_bodies],
            decide,
            model_server,
        )
    ]

    fcatalog = fb._catalog()
    fnamespace = f"{namespace}f"
    fb._populate(fcatalog, args.redis_url, fnamespace)
    fstore = open_store(args.redis_url, fcatalog, namespace=fnamespace)
    refs = [f"{view}:f{i}" for view in fb.VIEWS for i in range(10)]

    @contextlib.contextmanager
    def feature_server() -> Iterator[tuple[int, int]]:
        process, port = fb.start_server(fcatalog, args.redis_url, fnamespace, work)
        try:
            yield port, process.pid
        finally:
            process.terminate()
            process.wait(timeout=30)

    for entities in (1, 100):
        rng = random.Random(entities)
        batches = [[f"app-{rng.randrange(fb.ENTITIES)}" for _ in range(entities)] for _ in range(200)]
        bodies = [
            orjson.dumps({"features": refs, "entities": {"applicant_id": b}, "full_feature_names": True})
            for b in batches
        ]
        batch_reads = [
            [ReadRequest(view, (e,), tuple(f"f{i}" for i in range(10))) for e in batch for view in fb.VIEWS]
            for batch in batches
        ]
        found.append(
            Workload(
                f"feature read {entities}x30",
                "/get-online-features",
                bodies,
                lambda i, r=batch_reads: fstore.read_bulk(r[i % len(r)]),
                feature_server,
            )
        )

    def cleanup() -> None:
        store.close()
        fstore.close()
        client = redis.Redis.from_url(args.redis_url)
        for prefix in (namespace, fnamespace):
            for key in client.scan_iter(f"{prefix}:*", count=1000):
                client.delete(key)
        client.close()

    return found, cleanup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--artifact-root", type=Path, default=REPO / "models")
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="Length of the saturation, half-load and overload phases."
    )
    parser.add_argument("--recovery-seconds", type=float, default=3.0)
    parser.add_argument("--sequential", type=int, default=2000)
    parser.add_argument("--in-process-calls", type=int, default=2000)
    parser.add_argument("--max-offered", type=float, default=1500, help="Highest rate the generator is asked to send.")
    parser.add_argument("--only", help="Run only the workloads whose name contains this.")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    uvloop.install()

    work = Path(tempfile.mkdtemp(prefix="mlplat-cost-"))
    found, cleanup = workloads(args, work)
    rows = []
    try:
        for workload in found:
            if args.only and args.only not in workload.name:
                continue
            rows.append(measure(workload, args))
            print(json.dumps(rows[-1]), flush=True)
    finally:
        cleanup()
    print(f"load average: {os.getloadavg()}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
