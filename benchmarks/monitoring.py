"""Monitoring throughput: ``mlplat monitor`` over a million decisions, beside a plain DuckDB scan.

    PYTHONPATH=. .venv/bin/python benchmarks/monitoring.py [--decisions 1000000] [--repeat 3] [--root DIR]

What runs, on one machine and a temporary directory:

* setup (not timed): the default synthetic data (seed 7, 3000 applicants) and
  ``--decisions`` decisions of ``default_risk`` over 120 days, scored by the committed
  v2 artifact, written as the model server's decision records (~1.4 KiB each, 19
  inputs) into 40,000-record segments, with their outcomes in the label source's file;
* ``monitor``: the whole report with ``--window 60d`` (so the current and previous
  windows hold every decision) as of the last day: PSI of the 19 inputs and the score
  against the profile and the previous window, feature health, approval rates per
  version and day, volumes, and realized performance of the 30 days of decisions past
  their 90-day label window, joined to their outcomes;
* baselines, same log: plain DuckDB scans, ``read_json`` of every segment and one
  aggregate (count, mean score): once with the top-level fields only, once with the same
  typed columns ``monitor`` reads (the 19 inputs' value, source and status); every
  record parsed once, nothing binned or joined. ``monitor`` parses the log twice: the
  two windows with their inputs, and the matured decisions for realized performance.

With ``--spark``, also ``monitor`` counted by Spark in local mode (two cores) over the same
segments: the same report (the engines are tested equal), for the cost of Spark's JSON
reader against DuckDB's on one machine.

Each runs ``--repeat`` times in a fresh child process; the table shows the median wall
time, decisions per second and the child's peak resident memory (``VmHWM``).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

START = datetime(2026, 1, 5, tzinfo=UTC)
DAYS = 120
MODEL = "default_risk"


def setup(root: Path, decisions: int) -> None:
    from mlplat.loader import load_catalog  # noqa: PLC0415 - the children import only what they time
    from mlplat.monitoring.synthetic_decisions import SimulationConfig, simulate  # noqa: PLC0415
    from mlplat.synthetic import SyntheticConfig, generate  # noqa: PLC0415

    catalog = load_catalog(REPO / "specs")
    generate(catalog, root / "data", SyntheticConfig())
    config = SimulationConfig(start=START, days=DAYS, per_day=-(-decisions // DAYS))
    simulate(catalog, MODEL, root / "data", REPO / "models", root / "log", root / "outcomes", config)


def run_monitor(root: Path) -> dict[str, object]:
    from mlplat.loader import load_catalog  # noqa: PLC0415
    from mlplat.monitoring.monitor import MonitorOptions, monitor  # noqa: PLC0415

    catalog = load_catalog(REPO / "specs")
    options = MonitorOptions(
        root / "log", REPO / "models", root / "outcomes", START + timedelta(days=DAYS), timedelta(days=60)
    )
    started = time.perf_counter()
    report = monitor(catalog, MODEL, options)
    seconds = time.perf_counter() - started
    assert report.performance is not None
    decisions = sum(v.decisions for v in report.volumes)
    return {"seconds": seconds, "decisions": decisions, "matured": sum(m.matured for m in report.performance.months)}


def run_monitor_spark(root: Path) -> dict[str, object]:
    from mlplat.loader import load_catalog  # noqa: PLC0415
    from mlplat.monitoring.log_scan import readable_segments  # noqa: PLC0415
    from mlplat.monitoring.monitor import MonitorOptions, monitor  # noqa: PLC0415
    from mlplat.monitoring.spark_aggregates import SparkAggregator  # noqa: PLC0415
    from mlplat.offline.spark_engine import local_session  # noqa: PLC0415

    catalog = load_catalog(REPO / "specs")
    options = MonitorOptions(
        root / "log", REPO / "models", root / "outcomes", START + timedelta(days=DAYS), timedelta(days=60)
    )
    session = local_session("bench-monitor")
    session.sparkContext.setLogLevel("ERROR")
    started = time.perf_counter()
    with readable_segments(root / "log") as files:
        report = monitor(catalog, MODEL, options, SparkAggregator(session, [str(f) for f in files]))
    seconds = time.perf_counter() - started
    session.stop()
    assert report.performance is not None
    decisions = sum(v.decisions for v in report.volumes)
    return {"seconds": seconds, "decisions": decisions, "matured": sum(m.matured for m in report.performance.months)}


def run_scan(root: Path, with_inputs: bool) -> dict[str, object]:
    import duckdb  # noqa: PLC0415

    from mlplat.decision_log import segments  # noqa: PLC0415
    from mlplat.loader import load_catalog  # noqa: PLC0415
    from mlplat.monitoring.log_scan import columns_sql  # noqa: PLC0415

    refs = list(load_catalog(REPO / "specs").model(MODEL).spec.features) if with_inputs else []
    files = "[" + ", ".join(f"'{p}'" for _, p in segments(root / "log")) + "]"
    inputs = ", ".join(f"count(features['{ref}'].value)" for ref in refs) or "0"
    started = time.perf_counter()
    row = (
        duckdb.connect()
        .execute(
            f"SELECT count(*), avg(score), {inputs} FROM read_json({files}, format = 'newline_delimited', "
            f"columns = {columns_sql(refs)}) WHERE kind = 'decision'"
        )
        .fetchone()
    )
    seconds = time.perf_counter() - started
    assert row is not None
    return {"seconds": seconds, "decisions": int(row[0])}


def peak_rss_mib() -> float:
    """This process's peak resident memory. Not ``ru_maxrss``: after fork and exec it keeps the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # no /proc: an upper bound


def child(kind: str, root: Path) -> None:
    if kind == "monitor":
        result = run_monitor(root)
    elif kind == "monitor-spark":
        result = run_monitor_spark(root)
    else:
        result = run_scan(root, with_inputs=kind == "scan-inputs")
    result["peak_rss_mib"] = peak_rss_mib()
    sys.stdout.write(json.dumps(result) + "\n")


def measure(kind: str, root: Path, repeat: int) -> dict[str, float]:
    runs = []
    for _ in range(repeat):
        output = subprocess.run(
            [sys.executable, __file__, "--child", kind, "--root", str(root)], check=True, capture_output=True, text=True
        ).stdout
        runs.append(json.loads(output.strip().splitlines()[-1]))
    seconds = statistics.median(float(r["seconds"]) for r in runs)
    decisions = int(runs[0]["decisions"])
    return {
        "seconds": seconds,
        "decisions": decisions,
        "per_second": decisions / seconds,
        "peak_rss_mib": max(float(r["peak_rss_mib"]) for r in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", choices=("monitor", "monitor-spark", "scan", "scan-inputs"))
    parser.add_argument("--spark", action="store_true", help="Also count the report with Spark (local mode).")
    parser.add_argument("--root", type=Path, help="Keep (and reuse) the generated log here; default: a scratch dir.")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.root)
        return
    with tempfile.TemporaryDirectory(prefix="mlplat-bench-monitor-") as scratch:
        root = args.root or Path(scratch)
        started = time.perf_counter()
        if not (root / "log").is_dir():
            setup(root, args.decisions)
        size = sum(p.stat().st_size for p in (root / "log").iterdir()) / 2**20
        print(f"setup: {args.decisions:,} decisions, {size:,.0f} MiB of log, {time.perf_counter() - started:.0f} s")
        scan = measure("scan", root, args.repeat)
        scan_inputs = measure("scan-inputs", root, args.repeat)
        report = measure("monitor", root, args.repeat)
        spark = measure("monitor-spark", root, args.repeat) if args.spark else None
    print("| what | decisions | median time | decisions/s | peak memory |")
    print("| --- | ---: | ---: | ---: | ---: |")
    rows = (
        ("plain DuckDB scan of the log: top-level fields (baseline)", scan),
        ("plain DuckDB scan with the 19 inputs typed as monitor reads them", scan_inputs),
        ("`mlplat monitor` (whole report)", report),
        *(
            (("`mlplat monitor --engine spark` (local[2], driver memory 1 GiB; JVM not in peak memory)", spark),)
            if spark
            else ()
        ),
    )
    for name, r in rows:
        print(
            f"| {name} | {r['decisions']:,.0f} | {r['seconds']:.2f} s | {r['per_second']:,.0f} | "
            f"{r['peak_rss_mib']:,.0f} MiB |"
        )
    print(f"monitor / scan time: {report['seconds'] / scan['seconds']:.1f}x")
    if spark:
        print(f"spark / duckdb monitor time: {spark['seconds'] / report['seconds']:.1f}x")


if __name__ == "__main__":
    main()
