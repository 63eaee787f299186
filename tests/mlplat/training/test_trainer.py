"""Training is reproducible, writes safe artifacts with metrics and a card, and records the version."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from mlplat.catalog import Catalog
from mlplat.cli import app
from mlplat.errors import UsageError
from mlplat.monitoring.profile import PROFILE_NAME
from mlplat.registry import Registry, RegistryError
from mlplat.synthetic import SyntheticConfig, generate
from mlplat.training import TrainOptions, train_model
from mlplat.training.reference import write_profile_only
from mlplat.training.trainer import time_split, verify_model


@pytest.mark.parametrize(("model", "artifact"), [("default_risk", "model.ubj"), ("fraud", "model.txt")])
def test_training_twice_gives_the_same_artifact(
    catalog: Catalog, small_data: Path, tmp_path: Path, model: str, artifact: str
) -> None:
    first = train_model(catalog, model, TrainOptions(small_data, tmp_path / "a"))
    second = train_model(catalog, model, TrainOptions(small_data, tmp_path / "b"))
    assert first.sha256 == second.sha256
    newest = catalog.model(model).spec.versions[-1].name  # no --version: the newest the spec lists
    assert (first.version, newest) == ("v2", "v2")
    assert first.artifact_path == tmp_path / "a" / model / newest / artifact
    assert first.artifact_path.read_bytes() == second.artifact_path.read_bytes()
    assert hashlib.sha256(first.artifact_path.read_bytes()).hexdigest() == first.sha256
    assert first.artifact_path.read_bytes()[:1] != b"\x80"  # never a pickle
    metrics = json.loads(first.metrics_path.read_text())
    assert metrics["sha256"] == first.sha256
    assert metrics["holdout"]["count"] == first.holdout.count > 0
    if model == "default_risk":  # the fraud holdout of 400 applicants has too few frauds to judge
        assert 0.65 < first.holdout.auc < 0.95
    card = first.card_path.read_text()
    assert f"sha256 `{first.sha256}`" in card
    assert "| holdout |" in card


def test_versions_are_recorded_and_immutable(catalog: Catalog, small_data: Path, tmp_path: Path) -> None:
    registry = Registry.open(f"sqlite:///{tmp_path}/registry.db")
    trained = train_model(
        catalog, "default_risk", TrainOptions(small_data, tmp_path / "models", version="v1"), registry
    )
    record = registry.model_version("default_risk", "v1")
    assert record is not None
    assert record.sha256 == trained.sha256
    assert record.metrics["holdout_auc"] == pytest.approx(trained.holdout.auc, abs=1e-6)
    other = tmp_path / "other"
    generate(catalog, other, SyntheticConfig(seed=8, applicants=120))
    with pytest.raises(RegistryError, match="Versions are immutable"):
        train_model(catalog, "default_risk", TrainOptions(other, tmp_path / "models2", version="v1"), registry)
    trained_v2 = train_model(catalog, "default_risk", TrainOptions(other, tmp_path / "models2", version="v2"), registry)
    assert trained_v2.artifact_uri == "default_risk/v2/model.ubj"
    assert [v.version for v in registry.model_versions("default_risk")] == ["v1", "v2"]
    registry.close()


def test_missing_labels_are_a_clear_error(catalog: Catalog, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"loan_outcomes\.parquet does not exist; run `mlplat generate-data"):
        train_model(catalog, "fraud", TrainOptions(tmp_path, tmp_path))


def test_cli_trains_and_prints_the_digest(small_data: Path, tmp_path: Path, specs_dir: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "train",
            "fraud",
            "--data",
            str(small_data),
            "--artifacts",
            str(tmp_path / "models"),
            "--registry",
            f"sqlite:///{tmp_path}/r.db",
            "--specs",
            str(specs_dir),
        ],
    )
    assert result.exit_code == 0, result.output
    digest = hashlib.sha256((tmp_path / "models/fraud/v2/model.txt").read_bytes()).hexdigest()
    assert f"sha256   {digest}" in result.output


@pytest.mark.slow
def test_committed_artifacts_are_what_default_data_trains(catalog: Catalog, repo: Path, tmp_path: Path) -> None:
    """The specs pin, and models/ holds, exactly what `mlplat generate-data` + `mlplat train` produce.

    The newest version is what the spec's training params train today; older versions were
    trained with the params their own metrics.json records, and their committed files must
    still be the bytes the spec pins.
    """
    generate(catalog, tmp_path / "data", SyntheticConfig())
    for name in ("default_risk", "fraud"):
        versions = catalog.model(name).spec.versions
        trained = train_model(catalog, name, TrainOptions(tmp_path / "data", tmp_path / "models"))
        newest = versions[-1]
        assert trained.version == newest.name
        assert trained.sha256 == newest.artifact.sha256, f"retrain and update specs/models/{name}.yaml"
        for version in versions:
            committed = repo / "models" / version.artifact.uri
            assert hashlib.sha256(committed.read_bytes()).hexdigest() == version.artifact.sha256
            recorded = json.loads(committed.with_name("metrics.json").read_text())
            assert (recorded["version"], recorded["sha256"]) == (version.name, version.artifact.sha256)
        # The committed profiles are what training writes (newest) and what --profile-only writes (all versions).
        assert (
            trained.profile_path.read_bytes()
            == (repo / "models" / newest.artifact.uri).with_name(PROFILE_NAME).read_bytes()
        )
    shutil.copytree(repo / "models", tmp_path / "committed")
    for name in ("default_risk", "fraud"):
        for version in catalog.model(name).spec.versions:
            written = write_profile_only(catalog, name, version.name, tmp_path / "data", tmp_path / "committed")
            assert written.read_bytes() == (repo / "models" / version.artifact.uri).with_name(PROFILE_NAME).read_bytes()


def test_registry_commands_show_versions_and_runs(catalog: Catalog, small_data: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/registry.db"
    registry = Registry.open(url)
    trained = train_model(catalog, "fraud", TrainOptions(small_data, tmp_path / "models"), registry)
    registry.close()
    versions = CliRunner().invoke(app, ["registry", "versions", "fraud", "--registry", url])
    assert versions.exit_code == 0, versions.output
    assert trained.sha256[:12] in versions.output.replace("\n", "").replace("│", "").replace(" ", "")
    runs = CliRunner().invoke(app, ["registry", "runs", "--registry", url])
    assert runs.exit_code == 0, runs.output
    assert "materialization runs" in runs.output


def test_the_split_embargoes_label_windows_that_reach_into_the_holdout() -> None:
    times = np.array([0, 10, 20, 30, 40, 50, 60, 61, 100])
    split = time_split(times, holdout_micros=40, label_window_micros=25)  # holdout after 60
    assert times[split.train].tolist() == [0, 10, 20, 30]  # outcomes known by 60
    assert times[split.holdout].tolist() == [61, 100]
    assert split.embargoed == 3  # 40, 50, 60: their windows end after the holdout starts
    assert time_split(times, 40).embargoed == 0  # no label window: no embargo


def test_no_training_label_window_runs_past_the_holdout_start(
    catalog: Catalog, small_data: Path, tmp_path: Path
) -> None:
    trained = train_model(catalog, "default_risk", TrainOptions(small_data, tmp_path))
    metrics = json.loads(trained.metrics_path.read_text())
    window = catalog.model("default_risk").spec.training.label_window  # type: ignore[union-attr]
    assert window is not None
    labels = pq.read_table(small_data / "loan_outcomes.parquet")["event_timestamp"].to_pylist()
    trained_on = [t for t in labels if t + window <= trained.holdout_start]
    assert metrics["train"]["count"] == len(trained_on) > 0
    assert metrics["embargoed_events"] == len(labels) - len(trained_on) - metrics["holdout"]["count"] > 0
    assert f"{metrics['embargoed_events']:,} events whose label window (90d)" in trained.card_path.read_text()


def test_the_card_records_lineage_and_verify_rebuilds_from_it(
    catalog: Catalog, small_data: Path, tmp_path: Path, specs_dir: Path
) -> None:
    options = TrainOptions(small_data, tmp_path / "models", version="v7")
    trained = train_model(catalog, "fraud", options)
    lineage = json.loads(trained.metrics_path.read_text())["lineage"]
    assert set(lineage) == {"training_set_sha256", "training_set_rows", "catalog_sha256", "libraries", "code_revision"}
    assert {"lightgbm", "numpy", "pyarrow", "duckdb", "python"} <= set(lineage["libraries"])
    assert re.fullmatch(r"[0-9a-f]{40}(\+dirty)?|unknown", lineage["code_revision"])
    card = trained.card_path.read_text()
    assert f"`{lineage['training_set_sha256']}`" in card
    assert f"`{lineage['catalog_sha256']}`" in card
    verified = verify_model(catalog, "fraud", options)
    assert verified.reproduced
    assert verified.rebuilt_sha256 == trained.sha256
    assert verified.differences == ()
    command = [
        "train",
        "--verify",
        "fraud",
        "--version",
        "v7",
        "--data",
        str(small_data),
        "--artifacts",
        str(tmp_path / "models"),
    ]
    result = CliRunner().invoke(app, [*command, "--specs", str(specs_dir)])
    assert result.exit_code == 0, result.output
    assert f"fraud v7 reproduced: sha256 {trained.sha256}" in result.output
    # Other data: the training set differs, and so do the bytes.
    changed = tmp_path / "changed"
    shutil.copytree(small_data, changed)
    outcomes = pq.read_table(changed / "loan_outcomes.parquet")
    pq.write_table(outcomes.slice(0, outcomes.num_rows - 50), changed / "loan_outcomes.parquet")
    mismatch = verify_model(catalog, "fraud", TrainOptions(changed, tmp_path / "models", version="v7"))
    assert not mismatch.reproduced
    assert any(d.startswith("training set: card ") for d in mismatch.differences)
    failed = CliRunner().invoke(
        app, [*command[:-4], "--data", str(changed), "--artifacts", str(tmp_path / "models"), "--specs", str(specs_dir)]
    )
    assert failed.exit_code == 1
    assert "not reproduced" in failed.output


def test_verify_refuses_cards_without_lineage(catalog: Catalog, repo: Path, small_data: Path) -> None:
    with pytest.raises(UsageError, match="records no lineage"):
        verify_model(catalog, "fraud", TrainOptions(small_data, repo / "models", version="v1"))


def test_the_committed_models_carry_the_card_their_pin_names(catalog: Catalog, repo: Path) -> None:
    for name in ("default_risk", "fraud"):
        newest = catalog.model(name).spec.versions[-1]
        card = json.loads((repo / "models" / newest.artifact.uri).with_name("metrics.json").read_text())
        assert card["sha256"] == newest.artifact.sha256
        assert re.fullmatch(r"[0-9a-f]{40}", card["lineage"]["code_revision"])  # trained from committed code
