"""How long ``mlplat plan`` takes for a one-line spec change of the example specs.

    .venv/bin/python benchmarks/plan.py [--repeat 5] [--stack prod]

A throwaway git repository holds a copy of this checkout as ``main``; the working tree
changes ``repayment_history``'s ttl from 7d to 14d. Measured in the same run, each as a
fresh process, ``--repeat`` times, medians printed:

* one render: ``python -m infra.render --stack S --output FILE`` (the baseline);
* two renders one after the other: what a plan cost when it rendered each tree in its own
  process;
* ``mlplat plan --stack S --base main --format json``: checkout, spec diff, both renders
  (provider SDKs loaded once, the two renders in parallel children) and the report.

Target: the plan's median at most 4 s. Prints the load average, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
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


def _median(run: Callable[[], None], repeat: int) -> tuple[float, list[float]]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), samples


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

        def one() -> None:
            _python(repo, *render_command)

        def two() -> None:
            one()
            one()

        def plan() -> None:
            _python(repo, *plan_command)

        results = [("one render (baseline)", *_median(one, args.repeat))]
        results.append(("two renders, one after the other", *_median(two, args.repeat)))
        results.append(("mlplat plan (spec diff + both renders + report)", *_median(plan, args.repeat)))
    baseline = results[0][1]
    print(
        f"stack {args.stack}, {args.repeat} runs each, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    for name, median, samples in results:
        runs = ", ".join(f"{s:.1f}" for s in samples)
        print(f"{name:50} median {median:5.2f} s  ({median / baseline:4.2f}x one render)  runs: {runs}")
    verdict = "meets" if results[-1][1] <= 4.0 else "misses"
    print(f"plan median {results[-1][1]:.2f} s {verdict} the 4 s target")


if __name__ == "__main__":
    main()
