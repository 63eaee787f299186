"""How long ``mlplat plan`` takes for a one-line spec change of the example specs.

    .venv/bin/python benchmarks/plan.py [--repeat 5] [--stack prod]

A throwaway git repository holds a copy of this checkout as ``main``; the working tree
changes ``repayment_history``'s ttl from 7d to 14d. Measured in the same run, each as a
fresh process, in ``--repeat`` round-robin rounds; medians of wall time and of CPU time
(user + system, which a busy shared machine inflates far less than wall time):

* one render: ``python -m infra.render --stack S --output FILE`` (the baseline);
* two renders one after the other: what a plan cost when it rendered each tree in its own
  process;
* ``mlplat plan --stack S --base main --format json --no-cache``: checkout, spec diff,
  both renders (provider SDKs loaded once, the two renders in parallel children), report;
* the same plan with main's render reused from ``.mlplat/plan-cache`` (a second plan
  against the same base, as a reviewer or CI with a restored cache runs it).

Target: the plan's median at most 4 s. Prints the load average, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COPIED = (
    "mlplat",
    "infra",
    "services",
    "specs",
    "models",
    "Pulumi.yaml",
    "Pulumi.dev.yaml",
    "Pulumi.staging.yaml",
    "Pulumi.prod.yaml",
)
GIT = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "b@x.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "b@x.invalid",
}


def _repository(parent: Path) -> Path:
    repo = parent / "repo"
    repo.mkdir()
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, repo / name)
    env = {**os.environ, **GIT}
    for args in (["init", "-q", "--initial-branch=main"], ["add", "-A"], ["commit", "-qm", "base"]):
        subprocess.run(["git", *args], cwd=repo, check=True, env=env)
    view = repo / "specs/features/repayment_history.yaml"
    view.write_text(view.read_text().replace("ttl: 7d", "ttl: 14d", 1))
    return repo


def _timed(run: Callable[[], None]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, children included) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    run()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _python(repo: Path, *args: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(repo)}
    subprocess.run([sys.executable, *args], cwd=repo, env=env, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--stack", default="prod")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlplat-bench-plan-") as parent:
        repo = _repository(Path(parent))
        output = str(Path(parent) / "render.json")
        render_command = ("-m", "infra.render", "--stack", args.stack, "--output", output)
        plan_command = ("-m", "mlplat", "plan", "--stack", args.stack, "--base", "main", "--format", "json")
        cold = (*plan_command, "--no-cache")

        def one() -> None:
            _python(repo, *render_command)

        def two() -> None:
            one()
            one()

        def plan() -> None:
            _python(repo, *cold)

        def warm() -> None:
            _python(repo, *plan_command)

        variants: dict[str, Callable[[], None]] = {
            "one render (baseline)": one,
            "two renders, one after the other": two,
            "mlplat plan --no-cache (both trees rendered)": plan,
            "mlplat plan, base render reused from the cache": warm,
        }
        _python(repo, *plan_command)  # fills the cache of main's renders
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
        # Round robin, so a load that changes during the run weighs on every variant alike.
        for _ in range(args.repeat):
            for name, run in variants.items():
                samples[name].append(_timed(run))
    results = [
        (name, statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs), [w for w, _ in runs])
        for name, runs in samples.items()
    ]
    baseline_wall, baseline_cpu = results[0][1], results[0][2]
    print(f"stack {args.stack}, {args.repeat} rounds, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for name, wall, cpu, walls in results:
        runs = ", ".join(f"{w:.1f}" for w in walls)
        print(
            f"{name:48} wall {wall:5.2f} s ({wall / baseline_wall:4.2f}x)  "
            f"cpu {cpu:5.2f} s ({cpu / baseline_cpu:4.2f}x)  walls: {runs}"
        )
    for name, wall, _, _ in results[2:]:
        print(f"{name}: median {wall:.2f} s {'meets' if wall <= 4.0 else 'misses'} the 4 s target")


if __name__ == "__main__":
    main()
