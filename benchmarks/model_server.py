"""Model server latency: V2 infer of one row, and decisions at a fixed rate, beside in-process work.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/model_server.py [--rate 200 --seconds 20]

What it does, all in one run:

1. loads the primary versions of the two trained example models the specs pin
   (``models/``), or with ``--train`` trains stand-ins with the specs' training params on
   synthetic rows; writes a catalog snapshot;
2. writes features for 1,000 applicants and 100 merchants into the real Redis through
   the online store (a private namespace, deleted at the end);
3. starts the server as its own process (uvicorn, uvloop, httptools, one worker);
4. baselines: in-process ``score`` of one row, the in-process decision path (store
   read + vector + score + SHAP reasons) for the same applicants, and what the decision
   log's flush of one record costs on this disk at the same rate (benchmarks/log_flush.py
   compares it with a plain append + fsync);
5. V2 ``infer`` of one row from a sequential client (keep-alive, raw HTTP/1.1 so the
   client's own overhead stays small);
6. decisions, open loop at ``--rate`` requests/s for ``--seconds``: requests leave on a
   fixed schedule whatever the server's latency, and latency counts from the scheduled
   time, so queueing is not hidden (no coordinated omission). The client's own lateness
   in sending (its send lag) is reported beside it, and so are how many of the phase's
   decision-log writes took over 5 ms (from the server's /metrics: the flush with
   ``fsync`` durability, the write alone with ``write``) and the server process's CPU
   time per decision (``cpu/req``, user + system from /proc: on a shared host it shows
   how fast the machine ran the same work).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import redis

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import open_loop  # noqa: E402
from benchmarks.log_flush import segmented  # noqa: E402
from mlplat.catalog import Catalog  # noqa: E402
from mlplat.decision_log import read_decision_log  # noqa: E402
from mlplat.loader import load_catalog  # noqa: E402
from mlplat.models import ArtifactStore, load_version, sha256_hex  # noqa: E402
from mlplat.models.policy import assemble_inputs, reason_codes  # noqa: E402
from mlplat.online_store import OnlineStore, ReadRequest, Row, open_store  # noqa: E402
from mlplat.spec.kinds import Model, ModelVersion  # noqa: E402
from mlplat.training.frameworks import fit  # noqa: E402
from services.model_server.registry import view_reads  # noqa: E402
from tests.servers import free_port, port_open  # noqa: E402

APPLICANTS, MERCHANTS = 1000, 100


# --- setup ---------------------------------------------------------------------------------


def _primary(model: Model) -> ModelVersion:
    return next(v for v in model.spec.versions if v.name == model.spec.rollout.primary)


def train_models(root: Path, catalog: Catalog) -> dict[str, str]:
    """Stand-ins for the primary versions, fitted with the specs' training params on synthetic rows."""
    rng = np.random.default_rng(7)
    digests = {}
    for name in ("default_risk", "fraud"):
        model = catalog.model(name)
        assert model.spec.training is not None
        width = len(model.spec.features)
        x = rng.normal(size=(20_000, width)).astype(np.float32)
        logit = x[:, :5] @ rng.normal(size=5) - 2
        y = (rng.random(len(x)) < 1 / (1 + np.exp(-logit))).astype(int)
        fitted = fit(
            model.spec.framework,
            x,
            y,
            [f.split(":")[1] for f in model.spec.features],
            model.spec.training.params,
            model.spec.training.seed,
        )
        path = root / _primary(model).artifact.uri
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(fitted.artifact)
        digests[name] = sha256_hex(fitted.artifact)
    return digests


def pin_digests(catalog: Catalog, digests: dict[str, str]) -> Catalog:
    objects = []
    for obj in catalog.objects():
        if isinstance(obj, Model) and obj.metadata.name in digests:
            version = _primary(obj)
            artifact = version.artifact.model_copy(update={"sha256": digests[obj.metadata.name]})
            version = version.model_copy(update={"artifact": artifact})
            obj = obj.model_copy(update={"spec": obj.spec.model_copy(update={"versions": [version]})})  # noqa: PLW2901
        objects.append(obj)
    return Catalog(objects)


def seed(catalog: Catalog, url: str, namespace: str) -> None:
    store = open_store(url, catalog, namespace=namespace, timeout=2.0)
    rng = random.Random(7)
    now = datetime.now(UTC) - timedelta(minutes=5)
    for view_name, view in catalog.feature_views.items():
        if not view.spec.online:
            continue
        merchant = view.spec.entities[0].name == "merchant"
        count = MERCHANTS if merchant else APPLICANTS
        rows = []
        for i in range(count):
            values: dict[str, object] = {}
            for feature in view.spec.features:
                dtype = feature.dtype.value
                if dtype == "bool":
                    values[feature.name] = rng.random() < 0.2
                elif dtype.startswith("int"):
                    values[feature.name] = rng.randint(0, 50)
                elif dtype.startswith("float"):
                    values[feature.name] = rng.random()
                elif dtype == "timestamp":
                    values[feature.name] = now
                else:
                    values[feature.name] = "x"
            rows.append(Row((f"m-{i}" if merchant else f"a-{i}",), now, values))
        store.write(view_name, rows)
    store.close()


def request_body(model: str, i: int) -> dict[str, object]:
    values: dict[str, object] = {"order_amount": 100.0 + i % 900}
    if model == "default_risk":
        values["instalments"] = 4
    return {"entities": {"applicant_id": f"a-{i % APPLICANTS}", "merchant_id": f"m-{i % MERCHANTS}"}, "values": values}


# --- a lean HTTP/1.1 keep-alive client ------------------------------------------------------


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        head = f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) != b"\r\n":
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return int(status_line.split()[1]), await self.reader.readexactly(length)


# --- measurements ---------------------------------------------------------------------------


def summary(name: str, seconds: list[float], wall: float | None = None) -> dict[str, object]:
    ms = sorted(s * 1000 for s in seconds)

    def pct(p: float) -> float:
        return ms[min(len(ms) - 1, int(p * len(ms)))]

    row: dict[str, object] = {
        "what": name,
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 3),
        "p99_ms": round(pct(0.99), 3),
        "p99.9_ms": round(pct(0.999), 3),
        "max_ms": round(ms[-1], 3),
    }
    if wall:
        row["throughput_rps"] = round(len(ms) / wall, 1)
    return row


def timed(action: Callable[[], object], n: int) -> list[float]:
    for _ in range(min(200, n)):
        action()
    out = []
    for _ in range(n):
        start = time.perf_counter()
        action()
        out.append(time.perf_counter() - start)
    return out


async def sequential_infer(port: int, model: str, width: int, n: int) -> tuple[list[float], float]:
    conn = await Connection.open(port)
    row = np.random.default_rng(1).normal(size=width).astype(np.float32).tolist()
    body = orjson.dumps({"inputs": [{"name": "input", "shape": [1, width], "datatype": "FP32", "data": row}]})
    for _ in range(200):
        await conn.post(f"/v2/models/{model}/infer", body)
    latencies = []
    started = time.perf_counter()
    for _ in range(n):
        t = time.perf_counter()
        status, _ = await conn.post(f"/v2/models/{model}/infer", body)
        latencies.append(time.perf_counter() - t)
        assert status == 200
    return latencies, time.perf_counter() - started


async def sequential_decisions(port: int, model: str, n: int) -> tuple[list[float], float]:
    conn = await Connection.open(port)
    for i in range(100):
        await conn.post(f"/v1/decisions/{model}", orjson.dumps(request_body(model, i)))
    latencies = []
    started = time.perf_counter()
    for i in range(n):
        body = orjson.dumps(request_body(model, i))
        t = time.perf_counter()
        await conn.post(f"/v1/decisions/{model}", body)
        latencies.append(time.perf_counter() - t)
    return latencies, time.perf_counter() - started


async def open_loop_decisions(
    port: int, model: str, rate: float, seconds: float
) -> tuple[list[float], float, int, list[float]]:
    """Latencies from each request's scheduled time, wall time, non-200s, and the client's send lags.

    The schedule is :mod:`benchmarks.open_loop`'s (paced by a thread; latency from the
    scheduled time), the one generator of the serving benchmarks.
    """
    warm = await Connection.open(port)
    for i in range(100):  # warm-up, not measured
        await warm.post(f"/v1/decisions/{model}", orjson.dumps(request_body(model, i)))
    warm.writer.close()
    path = f"/v1/decisions/{model}"
    bodies = [open_loop.request_bytes(path, orjson.dumps(request_body(model, i))) for i in range(APPLICANTS)]
    started = time.perf_counter()
    outcome = await open_loop.run(port, bodies, open_loop.schedule_of([(rate, seconds)]), connections=8)
    wall = time.perf_counter() - started
    return [s.latency for s in outcome.sent], wall, sum(s.status != 200 for s in outcome.sent), outcome.lags


def decision_path(
    catalog: Catalog, store: OnlineStore, model: str, artifacts: ArtifactStore
) -> Callable[[Mapping[str, object]], object]:
    """The server's decision path, in-process: store read, input vector, score, exact reason codes."""
    state = load_version(catalog, artifacts, model, catalog.model(model).spec.rollout.primary)
    assert state.scorer is not None
    scorer = state.scorer
    inputs = catalog.model_inputs(model)
    reads = view_reads(catalog, inputs)
    policy = catalog.model(model).spec.decision

    def decide(body: Mapping[str, object]) -> object:
        entities = body["entities"]
        assert isinstance(entities, dict)
        results = store.read(
            [ReadRequest(r.view, tuple(entities[k.request_key] for k in r.keys), r.features) for r in reads]
        )
        stored = {f"{r.view}:{f}": found[f] for r, found in zip(reads, results, strict=True) for f in r.features}
        vector = assemble_inputs(inputs, stored, body["values"], policy.on_missing)  # type: ignore[arg-type]
        _, explanation = scorer.score_and_explain(vector.row())  # as the server does
        return reason_codes(inputs, vector, explanation, policy.reason_codes)

    return decide


def in_process_decision(
    catalog: Catalog, store_url: str, namespace: str, model: str, artifacts: ArtifactStore, n: int
) -> list[float]:
    store = open_store(store_url, catalog, namespace=namespace, timeout=1.0)
    decide = decision_path(catalog, store, model, artifacts)
    counter = iter(range(10**9))
    try:
        return timed(lambda: decide(request_body(model, next(counter))), n)
    finally:
        store.close()


def slow_flushes(port: int) -> tuple[float, float]:
    """The server's decision-log flushes so far that took over 5 ms, and all of them (its /metrics)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    within = float(re.search(r'mlplat_decision_log_flush_seconds_bucket\{le="0.005"\} (\S+)', text).group(1))  # type: ignore[union-attr]
    total = float(re.search(r"mlplat_decision_log_flush_seconds_count (\S+)", text).group(1))  # type: ignore[union-attr]
    return total - within, total


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def running_server(
    snapshot: Path, root: Path, redis_url: str, namespace: str, work: Path, durability: str, tree: Path = REPO
) -> Iterator[tuple[int, int]]:
    """The server of the code in ``tree`` (default: this checkout) as its own process on a free port: port and pid."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(tree),
        "OMP_NUM_THREADS": "1",
        "MLPLAT_CATALOG": str(snapshot),
        "MLPLAT_ARTIFACT_ROOT": str(root),
        "MLPLAT_ONLINE_STORE_URL": redis_url,
        "MLPLAT_ONLINE_STORE_NAMESPACE": namespace,
        "MLPLAT_DECISION_LOG": str(work / f"decisions-{durability}"),
        "MLPLAT_DECISION_LOG_DURABILITY": durability,
        "MLPLAT_PORT": str(port),
        # The benchmark catalog names no callers; benchmarks/identity.py times token checks.
        "MLPLAT_AUTH": "off",
    }
    log = (work / f"server-{durability}.log").open("wb")
    # cwd: ``-m`` puts the working directory first on the server's path, before PYTHONPATH.
    server = subprocess.Popen(
        [sys.executable, "-m", "services.model_server.server"], env=env, stdout=log, stderr=log, cwd=tree
    )
    try:
        while not port_open("127.0.0.1", port):
            assert server.poll() is None, (work / f"server-{durability}.log").read_text()
            time.sleep(0.1)
        yield port, server.pid
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def verdict(met: bool, what: str) -> str:
    """One pass/fail line per target, for a reader comparing runs on different machines."""
    return f"{'PASS' if met else 'FAIL'} {what}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--artifact-root", type=Path, default=REPO / "models", help="Artifact root (default: models/).")
    parser.add_argument("--train", action="store_true", help="Train synthetic models at the specs' sizes instead.")
    parser.add_argument("--infer-requests", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="mlplat-bench-"))
    catalog = load_catalog(REPO / "specs")
    if args.train:
        root = work / "artifacts"
        catalog = pin_digests(catalog, train_models(root, catalog))
    else:
        root = args.artifact_root  # the trained example models the specs pin
    snapshot = work / "catalog.json"
    snapshot.write_text(json.dumps(catalog.to_snapshot()))
    namespace = f"bench{os.getpid()}"
    seed(catalog, args.redis_url, namespace)

    results: list[dict[str, object]] = []
    artifacts = ArtifactStore(root)
    # The client's own full garbage collections (~0.1 s with the frameworks loaded) would
    # delay scheduled requests and be counted as server latency; the server does the same.
    gc.collect()
    gc.freeze()
    try:
        for model in ("default_risk", "fraud"):
            state = load_version(catalog, artifacts, model, catalog.model(model).spec.rollout.primary)
            assert state.scorer is not None
            scorer = state.scorer
            width = len(catalog.model(model).spec.features)
            row = np.random.default_rng(1).normal(size=(1, width)).astype(np.float32)
            results.append(
                summary(
                    f"{model}: in-process score, 1 row (baseline)",
                    timed(lambda s=scorer, r=row: s.score(r), args.infer_requests),
                )
            )
            results.append(
                summary(
                    f"{model}: in-process decision: Redis read + score + reasons (baseline)",
                    in_process_decision(catalog, args.redis_url, namespace, model, artifacts, 2000),
                )
            )
        # ms -> s: summary() takes seconds
        flushes = [ms / 1000 for ms in segmented(work, args.rate, args.seconds)]
        results.append(summary(f"disk: the decision log's flush of one record, {args.rate:g}/s (baseline)", flushes))
        for durability in ("fsync", "write"):
            with running_server(snapshot, root, args.redis_url, namespace, work, durability) as (port, pid):
                for model in ("default_risk", "fraud"):
                    width = len(catalog.model(model).spec.features)
                    if durability == "fsync":
                        latencies, wall = asyncio.run(sequential_infer(port, model, width, args.infer_requests))
                        results.append(summary(f"{model}: V2 infer, 1 row, sequential client", latencies, wall))
                        latencies, wall = asyncio.run(sequential_decisions(port, model, 2000))
                        results.append(summary(f"{model}: decision, sequential client, log fsync", latencies, wall))
                    flushes_before = slow_flushes(port)
                    cpu_before = cpu_seconds(pid)
                    latencies, wall, failures, lags = asyncio.run(
                        open_loop_decisions(port, model, args.rate, args.seconds)
                    )
                    slow, total = (
                        after - before for after, before in zip(slow_flushes(port), flushes_before, strict=True)
                    )
                    row_summary = summary(
                        f"{model}: decision, open loop {args.rate:g}/s, log {durability}", latencies, wall
                    )
                    row_summary["non_200"] = failures
                    row_summary["client_send_lag_p99_ms"] = round(sorted(lags)[int(0.99 * len(lags))] * 1000, 3)
                    row_summary["log_flushes_over_5ms"] = f"{slow:.0f}/{total:.0f}"
                    row_summary["server_cpu_ms_per_request"] = round(
                        (cpu_seconds(pid) - cpu_before) * 1000 / len(latencies), 2
                    )
                    results.append(row_summary)
    finally:
        client = redis.Redis.from_url(args.redis_url)
        for key in client.scan_iter(f"{namespace}:*", count=1000):
            client.delete(key)
        client.close()

    decisions_logged = sum(1 for log in work.glob("decisions-*") for _ in read_decision_log(log))
    print(
        f"{'what':<72} {'n':>6} {'p50':>8} {'p99':>8} {'p99.9':>8} {'max':>8} {'rps':>8} {'lag99':>6} {'flush>5ms':>10} {'cpu/req':>7}"
    )
    for r in results:
        print(
            f"{r['what']:<72} {r['n']:>6} {r['p50_ms']:>8} {r['p99_ms']:>8} {r['p99.9_ms']:>8} {r['max_ms']:>8} {r.get('throughput_rps', ''):>8} {r.get('client_send_lag_p99_ms', ''):>6} {r.get('log_flushes_over_5ms', ''):>10} {r.get('server_cpu_ms_per_request', ''):>7}"
        )
    by_name = {r["what"]: r for r in results}
    for model in ("default_risk", "fraud"):
        infer = by_name[f"{model}: V2 infer, 1 row, sequential client"]
        base = by_name[f"{model}: in-process score, 1 row (baseline)"]
        decision = by_name[f"{model}: decision, open loop {args.rate:g}/s, log fsync"]
        base_decision = by_name[f"{model}: in-process decision: Redis read + score + reasons (baseline)"]
        print(
            f"{model}: V2 infer p50 / in-process p50 = {infer['p50_ms'] / base['p50_ms']:.1f}x; "  # type: ignore[operator]
            f"decision p50 / in-process decision p50 = {decision['p50_ms'] / base_decision['p50_ms']:.1f}x"  # type: ignore[operator]
        )
    for model in ("default_risk", "fraud"):
        infer_p99 = by_name[f"{model}: V2 infer, 1 row, sequential client"]["p99_ms"]
        decision_p99 = by_name[f"{model}: decision, open loop {args.rate:g}/s, log fsync"]["p99_ms"]
        print(
            verdict(infer_p99 <= 2.0, f"{model}: V2 infer of one row, sequential p99 {infer_p99} ms (target <= 2 ms)")
        )  # type: ignore[operator]
        print(
            verdict(
                decision_p99 <= 5.0,  # type: ignore[operator]
                f"{model}: decision at {args.rate:g}/s, log fsync, p99 {decision_p99} ms (target <= 5 ms)",
            )
        )
    print(f"decision records in the log: {decisions_logged}; load average: {os.getloadavg()}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
