"""Serving cost and overload: server CPU per request beside the same work in-process, and load at 2x saturation.

    PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python benchmarks/serving_cost.py [--seconds 5] [--baseline-tree DIR]

For each workload — a decision of ``default_risk`` (features from Redis, exact reason
codes, the durable decision log with ``fsync``), a feature read of 1 entity x 30
features, and one of 100 entities x 30 features — against the real server in its own
process (uvicorn, uvloop, httptools, one worker, default settings: admission control's
queue-delay target and in-flight cap), on loopback with the machine's Redis:

1. **in-process**: the same work in this process (the decision path: store read, vector,
   score, reason codes; the store's ``read_bulk`` of the same keys), CPU per call from
   ``time.process_time``;
2. **sequential**: one keep-alive connection, one request at a time; server CPU per
   request (user + system of the server process, from /proc) and its ratio to (1). With
   ``--baseline-tree DIR`` (a checkout of another commit, e.g. ``git worktree add
   /tmp/main main``) the same phase runs against that tree's server too, in the same run;
3. **saturation**: S = 1 / (2)'s server CPU per request, the rate at which the one
   worker's event loop is busy all the time;
4. for the decision, **200/s** open loop for ``--seconds`` (the decision's latency target);
5. **half load**: open loop at S/2 (after a second at S/4 to warm up, not counted); p50, p99;
6. **overload then recovery**, one schedule without a gap: 2S for ``--seconds``, then S/2
   for ``--recovery-seconds``. Reports the admitted requests' p99 during the overload
   and its ratio to (5), the share shed (503), the shed answers' p50/p99, and the
   recovery: the end of the last 100-ms window of the S/2 phase in which a request was
   shed or the window's median latency was over twice the half-load p99.

Open-loop phases use :mod:`benchmarks.open_loop`: requests leave on schedule whatever
the server does, latency counts from the scheduled time, and the generator's own send lag
is printed beside each phase. It shares the two cores with the server (and Redis): on a
busy host latencies move with the neighbours; CPU per request much less. The last lines
are one PASS/FAIL per target of the serving-cost objectives (docs/benchmarks.md).
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
from benchmarks import open_loop as ol  # noqa: E402
from benchmarks.open_loop import Sent, percentile  # noqa: E402
from mlplat.loader import load_catalog  # noqa: E402
from mlplat.models import ArtifactStore  # noqa: E402
from mlplat.online_store import ReadRequest, open_store  # noqa: E402

#: Keep-alive connections of the generator, opened before each open-loop phase (none during
#: it): at 2S with answers of ~10 ms about 100 requests are in flight.
CONNECTIONS = 256
#: Recovery is judged on windows of this length (s), by their median, not single requests.
RECOVERY_WINDOW = 0.1

Server = Callable[[Path], contextlib.AbstractContextManager[tuple[int, int]]]


@dataclasses.dataclass(frozen=True)
class Workload:
    """One kind of request: its path and bodies, the same work in-process, the server, its CPU target."""

    name: str
    path: str
    bodies: Sequence[bytes]
    in_process: Callable[[int], object]
    server: Server  # the server of the code in a tree, as (port, pid)
    cpu_target_ms: Callable[[float], float]  # of the in-process CPU (ms)
    cpu_target_text: str
    fixed_rate: float | None = None  # an open-loop phase at this rate too (the decision's 200/s)


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
    connections.close()
    return out


def open_loop(port: int, requests: Sequence[bytes], phases: Sequence[tuple[float, float]]) -> ol.Outcome:
    return asyncio.run(ol.run(port, requests, ol.schedule_of(phases), connections=CONNECTIONS))


def server_cpu(work: Workload, tree: Path, n: int) -> tuple[float, list[float]]:
    """Server CPU per request (s) of the server of ``tree`` under the sequential client, and the latencies."""
    with work.server(tree) as (port, pid):
        before = mb.cpu_seconds(pid)
        latencies = asyncio.run(sequential(port, work, n))
        return (mb.cpu_seconds(pid) - before) / (n + 100), latencies


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def latency_row(prefix: str, outcome: ol.Outcome, row: dict[str, object]) -> float:
    """p50/p99 of the 200s, non-200 count and send lag of a phase into ``row``; returns the p99 (s)."""
    answered = [s.latency for s in outcome.sent if s.status == 200]
    row[f"{prefix}_p50_ms"] = ms(statistics.median(answered)) if answered else None
    row[f"{prefix}_p99_ms"] = ms(percentile(answered, 0.99))
    row[f"{prefix}_non_200"] = sum(s.status != 200 for s in outcome.sent)
    row[f"{prefix}_send_lag_p99_ms"] = ms(outcome.lag_p99())
    return percentile(answered, 0.99)


def recovery(sent: Sequence[Sent], start: float, end: float, half_p99: float) -> float:
    """Seconds from ``start`` to the end of the last window of [start, end) still shedding or slow."""
    last_bad = start
    window = start
    while window < end:
        inside = [s for s in sent if window <= s.due < window + RECOVERY_WINDOW]
        if inside and (
            any(s.status != 200 for s in inside) or statistics.median(s.latency for s in inside) > 2 * half_p99
        ):
            last_bad = window + RECOVERY_WINDOW
        window += RECOVERY_WINDOW
    return last_bad - start


def measure(work: Workload, args: argparse.Namespace) -> dict[str, object]:
    row: dict[str, object] = {"workload": work.name}
    in_process = cpu_per_call(work.in_process, args.in_process_calls)
    row["in_process_cpu_ms"] = ms(in_process)
    if args.baseline_tree is not None:
        baseline, _ = server_cpu(work, args.baseline_tree, args.sequential)
        row["baseline_server_cpu_ms"] = ms(baseline)
        row["baseline_cpu_ratio"] = round(baseline / in_process, 2)
    requests = [ol.request_bytes(work.path, body) for body in work.bodies]
    with work.server(REPO) as (port, pid):
        before = mb.cpu_seconds(pid)
        latencies = asyncio.run(sequential(port, work, args.sequential))
        cpu = (mb.cpu_seconds(pid) - before) / (args.sequential + 100)
        row["server_cpu_ms"] = ms(cpu)
        row["cpu_ratio"] = round(cpu / in_process, 2)
        row["cpu_target_ms"] = round(work.cpu_target_ms(in_process * 1000), 3)
        answered = [s for s in latencies if s == s]  # NaN: not 200 (a store timeout on a busy host)
        row["sequential_non_200"] = len(latencies) - len(answered)
        row["sequential_p50_ms"] = ms(statistics.median(answered))
        row["sequential_p99_ms"] = ms(percentile(answered, 0.99))

        saturation = 1 / cpu
        row["saturation_rps"] = round(saturation, 1)
        if work.fixed_rate is not None:
            latency_row("fixed_rate", open_loop(port, requests, [(work.fixed_rate, args.seconds)]), row)
        if 2 * saturation > args.max_offered:
            row["overload"] = f"not run: 2S = {2 * saturation:.0f}/s is more than --max-offered"
            return row

        open_loop(port, requests, [(saturation / 4, 1.0)])  # warm-up: connections, code paths
        half_p99 = latency_row("half_load", open_loop(port, requests, [(saturation / 2, args.seconds)]), row)

        before, generator = mb.cpu_seconds(pid), time.process_time()
        outcome = open_loop(port, requests, [(2 * saturation, args.seconds), (saturation / 2, args.recovery_seconds)])
        cpu, generator = mb.cpu_seconds(pid) - before, time.process_time() - generator
        over = [s for s in outcome.sent if s.due < args.seconds]
        admitted = [s.latency for s in over if s.status == 200]
        shed = [s.latency for s in over if s.status == 503]
        row["overload_offered_rps"] = round(2 * saturation, 1)
        row["overload_admitted_rps"] = round(len(admitted) / args.seconds, 1)
        row["overload_admitted_p99_ms"] = ms(percentile(admitted, 0.99))
        row["overload_p99_over_half_load_p99"] = round(percentile(admitted, 0.99) / half_p99, 2)
        row["overload_shed_share"] = round(len(shed) / len(over), 3)
        row["overload_other_status"] = sum(s.status not in (200, 503) for s in over)
        row["shed_answer_p50_ms"] = ms(statistics.median(shed)) if shed else None
        row["shed_answer_p99_ms"] = ms(percentile(shed, 0.99)) if shed else None
        row["overload_cpu_ms_per_request"] = ms(cpu / len(outcome.sent))
        row["overload_send_lag_p99_ms"] = ms(outcome.lag_p99())
        row["overload_generator_cpu_ms_per_request"] = ms(generator / len(outcome.sent))
        end = args.seconds + args.recovery_seconds
        row["recovery_s"] = round(recovery(outcome.sent, args.seconds, end, half_p99), 3)
    return row


def verdicts(row: dict[str, object], work: Workload) -> list[str]:
    """One PASS/FAIL line per target of ``work``'s row."""

    def line(met: bool, what: str) -> str:
        return f"{'PASS' if met else 'FAIL'} {work.name}: {what}"

    def number(key: str) -> float:
        return float(str(row[key]))

    lines = [
        line(
            number("server_cpu_ms") <= number("cpu_target_ms"),
            f"server CPU {row['server_cpu_ms']} ms/request (target <= {row['cpu_target_ms']} ms: "
            f"{work.cpu_target_text}; in-process {row['in_process_cpu_ms']} ms, ratio {row['cpu_ratio']})",
        )
    ]
    if work.fixed_rate is not None:
        lines.append(
            line(
                number("fixed_rate_p99_ms") <= 5,
                f"p99 at {work.fixed_rate:g}/s {row['fixed_rate_p99_ms']} ms (target <= 5 ms)",
            )
        )
    if "overload" in row:
        lines.append(f"SKIP {work.name}: overload {row['overload']}")
        return lines
    lines += [
        line(
            number("overload_p99_over_half_load_p99") <= 4,
            f"admitted p99 at 2S {row['overload_admitted_p99_ms']} ms = {row['overload_p99_over_half_load_p99']}x "
            f"the half-load p99 {row['half_load_p99_ms']} ms (target <= 4x)",
        ),
        line(
            row["shed_answer_p99_ms"] is not None and number("shed_answer_p99_ms") <= 5,
            f"shed answers p99 {row['shed_answer_p99_ms']} ms, p50 {row['shed_answer_p50_ms']} ms "
            f"(target <= 5 ms; shed share {row['overload_shed_share']})",
        ),
        line(number("recovery_s") <= 2, f"recovery {row['recovery_s']} s after the overload (target <= 2 s)"),
    ]
    return lines


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
    decide_body = mb.decision_path(catalog, store, model, ArtifactStore(root))
    decision_bodies = [mb.request_body(model, i) for i in range(500)]

    def decide(i: int) -> object:
        return decide_body(decision_bodies[i % len(decision_bodies)])

    @contextlib.contextmanager
    def model_server(tree: Path) -> Iterator[tuple[int, int]]:
        logs = work / ("this" if tree == REPO else "baseline")
        logs.mkdir(exist_ok=True)
        with mb.running_server(snapshot, root, args.redis_url, namespace, logs, "fsync", tree) as (port, pid):
            yield port, pid

    found: list[Workload] = [
        Workload(
            "decision default_risk (Redis, reason codes, log fsync)",
            f"/v1/decisions/{model}",
            [orjson.dumps(b) for b in decision_bodies],
            decide,
            model_server,
            lambda in_process_ms: max(1.2, 1.5 * in_process_ms),
            "the larger of 1.2 ms and 1.5x in-process",
            fixed_rate=200.0,
        )
    ]

    fcatalog = fb._catalog()
    fnamespace = f"{namespace}f"
    fb._populate(fcatalog, args.redis_url, fnamespace)
    fstore = open_store(args.redis_url, fcatalog, namespace=fnamespace)
    refs = [f"{view}:f{i}" for view in fb.VIEWS for i in range(10)]

    @contextlib.contextmanager
    def feature_server(tree: Path) -> Iterator[tuple[int, int]]:
        process, port = fb.start_server(fcatalog, args.redis_url, fnamespace, work, tree)
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
                lambda in_process_ms, limit=0.2 if entities == 1 else 1.2: limit,
                "0.2 ms" if entities == 1 else "1.2 ms",
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
    parser.add_argument(
        "--max-offered", type=float, default=20_000, help="Highest rate the generator is asked to send (req/s)."
    )
    parser.add_argument(
        "--baseline-tree",
        type=Path,
        help="A checkout of another commit whose servers' CPU per request is measured in the same run.",
    )
    parser.add_argument("--only", help="Run only the workloads whose name contains this.")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    uvloop.install()

    work = Path(tempfile.mkdtemp(prefix="mlplat-cost-"))
    found, cleanup = workloads(args, work)
    rows: list[dict[str, object]] = []
    lines: list[str] = []
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    load_before = os.getloadavg()
    try:
        for workload in found:
            if args.only and args.only not in workload.name:
                continue
            rows.append(measure(workload, args))
            print(json.dumps(rows[-1]), flush=True)
            lines += verdicts(rows[-1], workload)
    finally:
        cleanup()
    loads = ", ".join(f"{x:.2f}" for x in (*load_before, *os.getloadavg()))
    print(f"started {started}; {os.cpu_count()} cores; load average (1, 5, 15 min) before, after: {loads}")
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
