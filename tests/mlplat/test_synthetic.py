"""The synthetic generator writes the example sources as the catalog declares them, with real signal."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from mlplat.catalog import Catalog
from mlplat.cli import app
from mlplat.errors import UsageError
from mlplat.offline.sources import arrow_type, offline_table
from mlplat.synthetic import VIEWS, SyntheticConfig, generate


def _digests(root: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.glob("*.parquet"))}


def test_same_seed_writes_byte_identical_files(catalog: Catalog, tmp_path: Path) -> None:
    config = SyntheticConfig(seed=11, applicants=150)
    generate(catalog, tmp_path / "a", config)
    generate(catalog, tmp_path / "b", config)
    generate(catalog, tmp_path / "c", SyntheticConfig(seed=12, applicants=150))
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    assert len(_digests(tmp_path / "a")) == 5
    assert _digests(tmp_path / "a")["bureau_snapshots.parquet"] != _digests(tmp_path / "c")["bureau_snapshots.parquet"]


@pytest.mark.parametrize("view", VIEWS)
def test_each_source_has_exactly_the_view_columns_and_dtypes(catalog: Catalog, small_data: Path, view: str) -> None:
    table = offline_table(catalog, view)
    schema = pq.read_schema(small_data / table.uri)
    expected = [*table.key_columns, table.timestamp_field, table.created_timestamp_field, *table.feature_names]
    assert schema.names == expected
    for name, dtype in table.features:
        assert schema.field(name).type == arrow_type(dtype), name
    assert str(schema.field(table.timestamp_field).type) == "timestamp[us, tz=UTC]"


def test_sources_have_history_late_rows_and_restatements(catalog: Catalog, small_data: Path) -> None:
    bureau = pq.read_table(small_data / "bureau_snapshots.parquet")
    per_applicant = bureau.group_by("applicant_id").aggregate([("event_timestamp", "count")])
    assert pc.min(per_applicant["event_timestamp_count"]).as_py() >= 6
    delay = bureau["created_at"].to_numpy() - bureau["event_timestamp"].to_numpy()
    assert 0.02 < (delay > np.timedelta64(1, "D")).mean() < 0.1
    same_event = bureau.group_by(["applicant_id", "event_timestamp"]).aggregate([("created_at", "count_distinct")])
    assert pc.max(same_event["created_at_count_distinct"]).as_py() == 2


def test_distributions_are_realistic(small_data: Path) -> None:
    fico = pq.read_table(small_data / "bureau_snapshots.parquet")["fico_score"].to_numpy()
    assert fico.min() >= 300
    assert fico.max() <= 850
    assert 670 < fico.mean() < 710
    assert 55 < fico.std() < 85
    utilization = pq.read_table(small_data / "bureau_snapshots.parquet")["revolving_utilization"].to_numpy()
    assert utilization.min() > 0
    assert utilization.max() < 1


def test_labels_follow_the_features(small_data: Path, catalog: Catalog) -> None:
    labels = pq.read_table(small_data / "loan_outcomes.parquet")
    assert labels.schema.names == [
        "applicant_id",
        "merchant_id",
        "event_timestamp",
        "order_amount",
        "instalments",
        "defaulted_90d",
        "is_fraud",
    ]
    default = labels["defaulted_90d"].to_numpy()
    assert 0.05 < default.mean() < 0.25
    velocity = pq.read_table(small_data / "application_velocity.parquet")
    # one velocity row per application, pushed as it arrives
    assert velocity.num_rows == labels.num_rows
    fraud = labels.sort_by([("applicant_id", "ascending"), ("event_timestamp", "ascending")])["is_fraud"].to_numpy()
    ordered = velocity.sort_by([("applicant_id", "ascending"), ("event_timestamp", "ascending")])
    busy = pc.greater_equal(ordered["applications_24h"], 3).to_numpy(zero_copy_only=False)
    assert fraud[busy].mean() > 3 * fraud[~busy].mean()


def test_refuses_a_size_out_of_range(catalog: Catalog, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="applicants is 10; generate between 50 and 200000"):
        generate(catalog, tmp_path, SyntheticConfig(applicants=10))


def test_cli_writes_the_files(tmp_path: Path, specs_dir: Path) -> None:
    result = CliRunner().invoke(
        app, ["generate-data", "--data", str(tmp_path), "--seed", "3", "--applicants", "60", "--specs", str(specs_dir)]
    )
    assert result.exit_code == 0, result.output
    assert "loan_outcomes" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "application_velocity.parquet",
        "bureau_snapshots.parquet",
        "loan_outcomes.parquet",
        "merchant_stats.parquet",
        "repayment_rollups.parquet",
    ]
