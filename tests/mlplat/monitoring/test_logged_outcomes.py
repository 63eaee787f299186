"""Outcomes of logged decisions from the synthetic ground truth: drawn from the record's own features,
the same every time, recorded when the label window has passed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
import pyarrow.parquet as pq
import pytest

from mlplat.catalog import Catalog
from mlplat.decision_log import segment_path
from mlplat.errors import UsageError
from mlplat.monitoring.logged_outcomes import write_logged_outcomes
from mlplat.monitoring.synthetic_decisions import SimulationConfig, simulate
from mlplat.synthetic import MISSING_VALUES, default_logit

REPO_MODELS = Path(__file__).resolve().parents[3] / "models"
START = datetime(2026, 3, 2, tzinfo=UTC)


def test_outcomes_follow_the_ground_truth_and_are_the_same_every_time(
    catalog: Catalog, default_data: Path, tmp_path: Path
) -> None:
    config = SimulationConfig(start=START, days=10, per_day=200)
    simulate(catalog, "default_risk", default_data, REPO_MODELS, tmp_path / "log", tmp_path / "sim", config)
    first = write_logged_outcomes(catalog, "default_risk", tmp_path / "log", tmp_path / "a")
    second = write_logged_outcomes(catalog, "default_risk", tmp_path / "log", tmp_path / "b")
    table = pq.read_table(first.path)
    assert table.equals(pq.read_table(second.path))
    assert first.decisions == table.num_rows
    records = [orjson.loads(line) for line in segment_path(tmp_path / "log", 1).read_bytes().splitlines()]
    decisions = {r["id"]: r for r in records if r["kind"] == "decision"}
    assert set(table.column("decision_id").to_pylist()) == set(decisions)
    # The share of defaults is the ground truth's mean probability on the logged features.
    x = {
        name: np.array(
            [
                r["features"][ref]["value"] if r["features"][ref]["source"] in ("store", "request") else fill
                for r in decisions.values()
            ]
        )
        for ref, name, fill in [
            (ref, ref.partition(":")[2], MISSING_VALUES.get(ref.partition(":")[2], np.nan))
            for ref in next(iter(decisions.values()))["features"]
        ]
    }
    expected = float(np.mean(1 / (1 + np.exp(-default_logit(x)))))
    assert first.positives / first.decisions == pytest.approx(expected, abs=0.03)
    # Each outcome is timed at its decision (the label source's event time).
    times = {d: datetime.fromisoformat(r["time"]) for d, r in decisions.items()}
    stamped = dict(
        zip(table.column("decision_id").to_pylist(), table.column("event_timestamp").to_pylist(), strict=True)
    )
    assert all(stamped[d] == times[d] for d in list(times)[:50])


def test_a_log_without_the_models_decisions_is_refused(catalog: Catalog, tmp_path: Path) -> None:
    segment_path(tmp_path, 1).write_bytes(
        b'{"id": "x", "time": "2026-03-02T00:00:00+00:00", "model": "fraud", "kind": "decision"}\n'
    )
    with pytest.raises(UsageError, match="holds no decision of 'default_risk'"):
        write_logged_outcomes(catalog, "default_risk", tmp_path, tmp_path / "out")
