"""What making one decision record durable costs on this disk: the decision log vs a plain append.

    PYTHONPATH=. python benchmarks/log_flush.py [--rounds 4 --seconds 20 --rate 200]

Two ways, one record at a time at a fixed rate (the model server's load), in alternating
rounds so both meet the same moods of a shared disk:

* baseline: append the record to a file and ``fsync`` it (the file grows, so every flush
  also commits the filesystem's journal);
* the decision log: ``SegmentedFileSink.write_batch`` with ``fsync`` durability (the
  record is written over a preallocated, zero-filled segment and ``fdatasync``\\ ed).

Each round rests 5 s after setting up (the sink zero-fills its first segment and
prepares the next), so set-up writes do not land in the measurement. Reported: each
round's p50/p99/p99.9/max and how many flushes took over 2 ms and over 5 ms, then the
medians and totals over all rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from services.model_server.decision_log import LogEntry  # noqa: E402
from services.model_server.segmented_log import SegmentedFileSink  # noqa: E402

RECORD = b'{"id": "0192f1c4-0000-7000-8000-000000000000", "pad": "' + b"x" * 1460 + b'"}'


def paced(flush: Callable[[], None], rate: float, seconds: float) -> list[float]:
    """Milliseconds per flush, one every 1/rate s."""
    out = []
    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        began = time.perf_counter()
        flush()
        out.append((time.perf_counter() - began) * 1000)
    return out


def append_fsync(work: Path, rate: float, seconds: float) -> list[float]:
    fd = os.open(work / "append.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.fsync(fd)
    time.sleep(5)
    line = RECORD + b"\n"
    try:
        return paced(lambda: (os.write(fd, line), os.fsync(fd)), rate, seconds)
    finally:
        os.close(fd)


def segmented(work: Path, rate: float, seconds: float) -> list[float]:
    sink = SegmentedFileSink(work / "decisions")
    time.sleep(5)
    entry = [LogEntry("0192f1c4", RECORD)]
    try:
        return paced(lambda: sink.write_batch(entry), rate, seconds)
    finally:
        sink.close()


def row(name: str, ms: list[float]) -> dict[str, float]:
    ms = sorted(ms)

    def pct(p: float) -> float:
        return ms[min(len(ms) - 1, int(p * len(ms)))]

    return {
        "p50": statistics.median(ms),
        "p99": pct(0.99),
        "p99.9": pct(0.999),
        "max": ms[-1],
        "over_2ms": sum(x > 2 for x in ms),
        "over_5ms": sum(x > 5 for x in ms),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--dir", type=Path, default=None, help="Where to write (default: the system's temp dir).")
    args = parser.parse_args()
    ways = {"append + fsync (baseline)": append_fsync, "decision log: preallocated segment + fdatasync": segmented}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in ways}
    print(f"{'round':<6} {'way':<48} {'p50':>6} {'p99':>6} {'p99.9':>7} {'max':>7} {'>2ms':>5} {'>5ms':>5}")
    for number in range(args.rounds):
        order = list(ways) if number % 2 == 0 else list(reversed(ways))
        for name in order:
            with tempfile.TemporaryDirectory(dir=args.dir) as work:
                r = row(name, ways[name](Path(work), args.rate, args.seconds))
            results[name].append(r)
            print(
                f"{number + 1:<6} {name:<48} {r['p50']:>6.3f} {r['p99']:>6.3f} {r['p99.9']:>7.2f} "
                f"{r['max']:>7.1f} {r['over_2ms']:>5} {r['over_5ms']:>5}",
                flush=True,
            )
    print(f"\n{'over all rounds':<55} {'p50':>6} {'p99':>6} {'p99.9':>7} {'>2ms':>5} {'>5ms':>5}  (medians; totals)")
    for name, rows in results.items():
        print(
            f"{name:<55} {statistics.median(r['p50'] for r in rows):>6.3f} "
            f"{statistics.median(r['p99'] for r in rows):>6.3f} {statistics.median(r['p99.9'] for r in rows):>7.2f} "
            f"{sum(r['over_2ms'] for r in rows):>5.0f} {sum(r['over_5ms'] for r in rows):>5.0f}"
        )
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
