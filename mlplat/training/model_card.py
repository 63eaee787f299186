"""The model card: what a model-risk reviewer reads about a trained version (markdown)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlplat.spec.kinds import Model


def _metric_rows(metrics: Mapping[str, Any]) -> list[str]:
    rows = ["| set | events | bad rate | AUC | KS | Brier |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name in ("train", "holdout"):
        m = metrics[name]
        rows.append(
            f"| {name} | {m['count']:,} | {m['base_rate']:.3f} | {m['auc']:.3f} | {m['ks']:.3f} | {m['brier']:.4f} |"
        )
    return rows


def _decile_rows(metrics: Mapping[str, Any]) -> list[str]:
    rows = ["| decile | events | mean score | observed rate |", "| ---: | ---: | ---: | ---: |"]
    for d in metrics["holdout"]["deciles"]:
        rows.append(f"| {d['decile']} | {d['count']:,} | {d['mean_score']:.3f} | {d['observed_rate']:.3f} |")
    return rows


def _feature_rows(model: Model, importance: Mapping[str, float]) -> list[str]:
    total = sum(importance.values()) or 1.0
    rows = ["| input | share of gain |", "| --- | ---: |"]
    for ref in model.spec.features:
        name = ref.partition(":")[2]
        rows.append(f"| `{ref}` | {importance.get(name, 0.0) / total:.1%} |")
    return rows


def _lineage_rows(lineage: Mapping[str, Any]) -> list[str]:
    libraries = ", ".join(f"{name} {version}" for name, version in sorted(lineage["libraries"].items()))
    return [
        "| what | value |",
        "| --- | --- |",
        f"| training set (sha256 of its {lineage['training_set_rows']:,} rows) | `{lineage['training_set_sha256']}` |",
        f"| catalog digest (the model's training spec and what it reads) | `{lineage['catalog_sha256']}` |",
        f"| libraries | {libraries} |",
        f"| code revision | `{lineage['code_revision']}` |",
    ]


def render_model_card(
    model: Model, version: str, uri: str, sha256: str, metrics: Mapping[str, Any], data: Mapping[str, Any]
) -> str:
    """The markdown card of ``version`` of ``model``."""
    spec = model.spec
    params = ", ".join(f"`{k}={v}`" for k, v in sorted(metrics["params"].items())) or "defaults"
    lines = [
        f"# Model card: {model.metadata.name} {version}",
        "",
        model.metadata.description or "",
        "",
        f"* **Owner:** {model.metadata.owner or 'unassigned'}",
        f"* **Framework:** {spec.framework.value}; parameters {params}; seed {metrics['seed']}",
        f"* **Artifact:** `{uri}`, sha256 `{sha256}`",
        f"* **Decision:** decline at score ≥ {spec.decision.threshold}, {spec.decision.reason_codes} reason codes",
        "",
        "## Training data",
        "",
        f"Labels `{data['label']}` from source `{data['label_source']}`: {data['events']:,} events from "
        f"{data['first_event']} to {data['last_event']}. Features are joined point in time: the latest value "
        "available at each event (in effect and written by then), within each view's ttl. A missing value is "
        f"scored as the model server scores it (decision.onMissing `{spec.decision.on_missing.value}`). Events from "
        f"{data['holdout_start']} on ({data['holdout_events']:,}) are held out for evaluation; "
        f"{data['train_events']:,} earlier events train, and {data['embargoed_events']:,} events whose label window "
        f"({data['label_window']}) runs past the holdout start are left out.",
        "",
        "## Evaluation",
        "",
        *_metric_rows(metrics),
        "",
        "Calibration on the holdout (score deciles, lowest first):",
        "",
        *_decile_rows(metrics),
        "",
        "## Inputs",
        "",
        *_feature_rows(model, metrics["importance"]),
        "",
        "## Lineage",
        "",
        *_lineage_rows(metrics["lineage"]),
        "",
        "`mlplat train --verify` rebuilds this version from this record (`metrics.json` holds it for machines) "
        "and checks the artifact's sha256.",
        "",
        "## Limits",
        "",
        "Evaluated on one time-based holdout only. Trained on the data under the offline root it was given; "
        "with the synthetic example data its figures say nothing about real applicants.",
        "",
    ]
    return "\n".join(lines)
