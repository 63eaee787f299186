"""Spark (local mode) and DuckDB count the same window into the same report, figure for figure.

The engines only count (integers per bin, role, day, distinct score); one set of Python
functions computes every figure from the counts, so the JSON reports are compared for
equality with no tolerance at all.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from mlplat.catalog import Catalog
from mlplat.decision_log import segment_path
from mlplat.monitoring.aggregates import WindowQuery
from mlplat.monitoring.duckdb_aggregates import DuckDBAggregator
from mlplat.monitoring.log_scan import readable_segments
from mlplat.monitoring.monitor import MonitorOptions, monitor
from mlplat.monitoring.report_data import to_json
from mlplat.monitoring.synthetic_decisions import Shift, SimulationConfig, simulate
from tests.mlplat.monitoring.firehose_layout import firehose_objects, log_lines

REPO_MODELS = Path(__file__).resolve().parents[3] / "models"
START = datetime(2026, 3, 2, tzinfo=UTC)
# py4j leaves sockets of collect() to the garbage collector
pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning"),
]


def _extra_records(as_of: datetime) -> list[bytes]:
    """Canary decisions, refusals, a stale and a defaulted input, a torn line: what the simulation lacks."""
    when = (as_of - timedelta(days=2)).isoformat()
    fico = "bureau_profile:fico_score"
    records: list[dict[str, Any]] = []
    for n in range(12):
        records.append(
            {
                "id": f"canary-{n}",
                "time": when,
                "model": "default_risk",
                "kind": "decision",
                "version": "v1",
                "canary": True,
                "decision": "approve" if n % 3 else "decline",
                "score": 0.05 * n,
                "features": {fico: {"value": 600.0 + n, "source": "store", "status": "OUTSIDE_MAX_AGE"}},
            }
        )
    for n in range(5):
        records.append(
            {
                "id": f"refused-{n}",
                "time": when,
                "model": "default_risk",
                "kind": "refusal",
                "version": "v2",
                "decision": "refused",
                "features": {fico: {"value": None, "source": "default", "status": "NOT_FOUND"}},
            }
        )
    return [orjson.dumps(r) for r in records] + [b'{"id": "torn", "time": "2026-']


@pytest.fixture(scope="module")
def archive(catalog: Catalog, tmp_path_factory: pytest.TempPathFactory, default_data: Path) -> tuple[Path, Path, Path]:
    """A log, its outcomes, and the same records as Firehose archive objects on disk."""
    root = tmp_path_factory.mktemp("engines")
    shift = Shift("bureau_profile:revolving_utilization", START + timedelta(days=113), factor=1.5)
    config = SimulationConfig(start=START, days=120, per_day=12, shadow="v1", shifts=(shift,))
    simulate(catalog, "default_risk", default_data, REPO_MODELS, root / "log", root / "outcomes", config)
    extra = _extra_records(START + timedelta(days=120))
    segment_path(root / "log", 2).write_bytes(b"\n".join(extra) + b"\n")
    lines = [line for n in (1, 2) for line in segment_path(root / "log", n).read_bytes().splitlines()]
    objects = root / "archive"
    for n, (key, body) in enumerate(firehose_objects(log_lines(lines[:-1]))):  # Firehose never sees a torn record
        path = objects / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        if n % 20 == 0:  # delivered again (at least once), under a key of its own
            path.with_name(path.name.replace(".jsonl.gz", "-again.jsonl.gz")).write_bytes(body)
    return root / "log", root / "outcomes", objects


def test_spark_and_duckdb_give_the_same_report(catalog: Catalog, archive: tuple[Path, Path, Path], spark: Any) -> None:
    from mlplat.monitoring.spark_aggregates import SparkAggregator

    log, outcomes, objects = archive
    as_of = START + timedelta(days=120)
    options = MonitorOptions(log, REPO_MODELS, outcomes, as_of)
    paths = sorted(str(p) for p in objects.rglob("*.jsonl.gz"))
    with_duckdb = monitor(catalog, "default_risk", options)
    with_spark = monitor(catalog, "default_risk", options, SparkAggregator(spark, paths))
    assert to_json(with_spark) == to_json(with_duckdb)
    # The comparison covers every kind of figure.
    assert {(r.version, r.role) for r in with_spark.rates} == {("v2", "primary"), ("v1", "canary"), ("v1", "shadow")}
    assert with_spark.volumes[0].refusals == 5
    health = {h.ref: h for h in with_spark.health}["bureau_profile:fico_score"]
    assert health.stale_share is not None
    assert health.stale_share > 0
    assert health.default_share is not None
    assert health.default_share > 0
    assert with_spark.drifted()[0] == "bureau_profile:revolving_utilization"
    assert with_spark.performance is not None
    assert [m.month for m in with_spark.performance.months if m.auc is not None] == ["2026-03"]


def test_spark_counts_equal_duckdb_counts_row_for_row(
    catalog: Catalog, archive: tuple[Path, Path, Path], spark: Any
) -> None:
    from mlplat.monitoring.spark_aggregates import SparkAggregator

    log, _, objects = archive
    as_of = START + timedelta(days=120)
    query = WindowQuery(
        "default_risk",
        as_of - timedelta(days=14),
        as_of - timedelta(days=7),
        as_of,
        {"bureau_profile:fico_score": (600.0, 650.0, 700.0), "request:order_amount": ()},
        {"v2": (0.1, 0.2)},
    )
    with readable_segments(log) as files:
        duck = DuckDBAggregator(files).aggregate(query)
    sparked = SparkAggregator(spark, [str(p) for p in objects.rglob("*.jsonl.gz")]).aggregate(query)
    for field in ("rates", "daily", "volumes"):
        assert sorted(getattr(sparked, field)) == sorted(getattr(duck, field)), field
    for ref in query.inputs:
        assert sorted(sparked.inputs[ref]) == sorted(duck.inputs[ref])
    assert sorted(sparked.scores["v2"]) == sorted(duck.scores["v2"])
    assert sum(n for *_, n in duck.scores["v2"]) > 50
