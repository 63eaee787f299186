"""How long rendering the prod stack under Pulumi mocks takes.

    PYTHONPATH=. .venv/bin/python benchmarks/render.py [--repeat 5] [--large-repeat 3]

Three catalogs, all rendered in this run with the committed Pulumi.prod.yaml:
* empty: no models, no feature views: the shared platform alone (the baseline);
* example: the specs in specs/;
* large: the example entities and sources plus 1,000 generated scheduled feature views
  and 200 generated models.
Prints medians and each one's ratio to the empty-catalog baseline. Targets: example
under 10 s, large under 60 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra.rendering import render, stack_config  # noqa: E402
from mlplat.catalog import Catalog  # noqa: E402
from mlplat.loader import load_catalog  # noqa: E402


def large_catalog(example: Catalog, views: int = 1000, models: int = 200) -> Catalog:
    """The example's entities and sources, ``views`` copies of a scheduled view, ``models`` models over them."""
    template_view = example.feature_view("bureau_profile")
    template_model = example.model("default_risk")
    generated_views = [
        template_view.model_copy(
            update={"metadata": template_view.metadata.model_copy(update={"name": f"view_{i:04d}"})}
        )
        for i in range(views)
    ]
    generated_models = []
    for i in range(models):
        features = [f"view_{(i * 5 + k) % views:04d}:fico_score" for k in range(5)]
        spec = template_model.spec.model_copy(update={"features": features, "request_values": []})
        metadata = template_model.metadata.model_copy(update={"name": f"model_{i:03d}"})
        generated_models.append(template_model.model_copy(update={"metadata": metadata, "spec": spec}))
    keep = [*example.entities.values(), *example.sources.values()]
    return Catalog([*keep, *generated_views, *generated_models])


def timed(catalog: Catalog, repeat: int) -> tuple[float, int]:
    config = stack_config("prod")
    samples, count = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        count = len(render(catalog, config).resources)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="renders of the empty and example catalogs")
    parser.add_argument("--large-repeat", type=int, default=3, help="renders of the large catalog")
    args = parser.parse_args()
    example = load_catalog(ROOT / "specs")
    catalogs = {
        "empty (baseline)": (Catalog([*example.entities.values(), *example.sources.values()]), args.repeat),
        "example specs": (example, args.repeat),
        "200 models + 1,000 views": (large_catalog(example), args.large_repeat),
    }
    timed(example, 1)  # warm-up: imports and first-use caches are not what we measure
    results = {name: timed(catalog, repeat) for name, (catalog, repeat) in catalogs.items()}
    baseline = results["empty (baseline)"][0]
    print(f"{'catalog':<28}{'resources':>10}{'median s':>10}{'x baseline':>12}")
    for name, (median, count) in results.items():
        print(f"{name:<28}{count:>10}{median:>10.2f}{median / baseline:>12.2f}")


if __name__ == "__main__":
    main()
