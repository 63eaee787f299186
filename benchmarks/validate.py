"""Times ``mlplat validate`` on generated specs of 2,000 feature views and 200 models.

The baseline, measured in the same run on the same files, is the raw parse cost:
``yaml.load_all`` with libyaml's ``CSafeLoader``, which builds plain values and keeps
no positions, checks nothing and reports nothing. The ratio says what located,
all-at-once validation costs on top of reading the YAML at all.

    PYTHONPATH=$PWD python benchmarks/validate.py [--views 2000] [--models 200] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from mlplat.loader import spec_files, validate_directory

ENTITIES = 20
SOURCES = 50
FEATURES_PER_VIEW = 10
FEATURES_PER_MODEL = 30
DTYPES = ("int32", "int64", "float32", "float64", "bool")
SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def _entities() -> str:
    docs = [
        f"apiVersion: mlplat/v1\nkind: Entity\nmetadata:\n  name: entity_{e}\n  owner: team_{e % 5}@example.com\n"
        f"spec:\n  joinKey: entity_{e}_id\n  type: {'int64' if e % 2 else 'string'}\n"
        for e in range(ENTITIES)
    ]
    return "---\n".join(docs)


def _sources() -> str:
    docs = [
        f"apiVersion: mlplat/v1\nkind: Source\nmetadata:\n  name: source_{s}\n"
        f"spec:\n  path: s3://offline-bucket/source_{s}/\n  timestampField: event_timestamp\n"
        f"  createdTimestampField: created_at\n"
        for s in range(SOURCES)
    ]
    return "---\n".join(docs)


def _view(v: int) -> str:
    features = "".join(
        f"    - name: feature_{f}\n      dtype: {DTYPES[(v + f) % len(DTYPES)]}\n"
        f"      description: Feature {f} of view {v}.\n"
        + ("      default: 0\n" if DTYPES[(v + f) % len(DTYPES)] in ("int32", "int64") else "")
        for f in range(FEATURES_PER_VIEW)
    )
    return (
        f"apiVersion: mlplat/v1\nkind: FeatureView\nmetadata:\n  name: view_{v}\n  owner: team_{v % 5}@example.com\n"
        f"  labels:\n    domain: d{v % 7}\nspec:\n  entities: [entity_{v % ENTITIES}]\n  source: source_{v % SOURCES}\n"
        f"  ttl: 7d\n  materialization:\n    every: 1h\n    lateness: 6h\n  features:\n{features}"
    )


def _model(m: int, views: int) -> str:
    refs = "".join(
        f"    - view_{(m * 7 + i) % views}:feature_{i % FEATURES_PER_VIEW}\n" for i in range(FEATURES_PER_MODEL)
    )
    return (
        f"apiVersion: mlplat/v1\nkind: Model\nmetadata:\n  name: model_{m}\n  owner: team_{m % 5}@example.com\n"
        f"spec:\n  framework: xgboost\n  features:\n{refs}    - request:amount\n"
        f"  requestValues:\n    - name: amount\n      dtype: float64\n"
        f"  versions:\n    - name: v1\n      artifact:\n        uri: model_{m}/v1/model.ubj\n"
        f'        sha256: "{SHA}"\n      approval:\n        state: approved\n'
        f"  rollout:\n    primary: v1\n  decision:\n    threshold: 0.3\n    reasonCodes: 4\n"
        f"  serving:\n    resources: {{cpu: 500m, memory: 512Mi}}\n"
    )


def write_specs(root: Path, views: int, models: int) -> None:
    """A spec directory like a large organisation's: 50 views per file, one model per file."""
    (root / "features").mkdir(parents=True)
    (root / "models").mkdir()
    (root / "entities.yaml").write_text(_entities())
    (root / "sources.yaml").write_text(_sources())
    for start in range(0, views, 50):
        docs = [_view(v) for v in range(start, min(start + 50, views))]
        (root / "features" / f"views_{start // 50:03d}.yaml").write_text("---\n".join(docs))
    for m in range(models):
        (root / "models" / f"model_{m:03d}.yaml").write_text(_model(m, views))


def medians(action: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median wall-clock and median CPU seconds of ``runs`` calls of ``action``.

    CPU time is reported too because the machine is shared: other processes stretch
    wall-clock time but not the CPU time this process spends.
    """
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        action()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def raw_parse(root: Path) -> int:
    count = 0
    for path in spec_files(root):
        with path.open("rb") as stream:
            count += sum(1 for _ in yaml.load_all(stream, Loader=yaml.CSafeLoader))
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", type=int, default=2000)
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_specs(root, args.views, args.models)
        result = validate_directory(root)
        assert result.catalog is not None, [str(d) for d in result.diagnostics[:5]]
        documents = raw_parse(root)
        baseline = medians(lambda: raw_parse(root), args.runs)
        validate = medians(lambda: validate_directory(root), args.runs)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
        f"{platform.python_implementation()} {platform.python_version()}, PyYAML {yaml.__version__} (libyaml)"
    )
    print(f"specs: {args.views} feature views, {args.models} models, {documents} documents")
    print(f"median of {args.runs} runs                      wall s    CPU s")
    print(f"baseline yaml.load_all(CSafeLoader)      {baseline[0]:7.3f}  {baseline[1]:7.3f}")
    print(f"validate_directory                       {validate[0]:7.3f}  {validate[1]:7.3f}")
    print(
        f"ratio (validate / baseline)              {validate[0] / baseline[0]:6.1f}x  {validate[1] / baseline[1]:6.1f}x"
    )


if __name__ == "__main__":
    main()
