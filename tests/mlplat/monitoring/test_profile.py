"""The reference profile: quantile bins, the bin rule, the missing share, the file and its sha256."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlplat.catalog import Catalog
from mlplat.errors import UsageError
from mlplat.monitoring.profile import PROFILE_NAME, Profile, bin_counts, binned, quantile_edges, read_profile


def test_deciles_of_a_continuous_column_give_ten_equal_bins() -> None:
    values = np.arange(1, 1001, dtype=np.float64)
    edges = quantile_edges(values)
    assert edges == tuple(float(e) for e in range(100, 1000, 100))
    assert list(bin_counts(values, edges)) == [100] * 10


def test_a_boolean_gets_two_bins_and_values_on_an_edge_fall_in_the_bin_below() -> None:
    values = np.array([0.0] * 95 + [1.0] * 5)
    edges = quantile_edges(values)
    assert edges == (0.0,)
    assert list(bin_counts(np.array([-1.0, 0.0, 0.5, 1.0]), edges)) == [2, 2]


def test_missing_values_are_counted_apart_from_the_bins() -> None:
    values = np.array([1.0, 2.0, 3.0, 4.0, 0.0])
    result = binned(values, np.array([False, False, False, False, True]))
    assert result.missing_share == pytest.approx(0.2)
    assert sum(result.shares) == pytest.approx(1.0)
    assert result.categories().sum() == pytest.approx(1.0)
    assert result.categories()[-1] == pytest.approx(0.2)


def test_an_all_missing_column_has_one_empty_bin() -> None:
    result = binned(np.zeros(3), np.ones(3, dtype=bool))
    assert (result.edges, result.missing_share) == ((), 1.0)


def test_committed_profiles_belong_to_the_pinned_versions(catalog: Catalog, repo: Path) -> None:
    for name in ("default_risk", "fraud"):
        model = catalog.model(name)
        for version in model.spec.versions:
            path = (repo / "models" / version.artifact.uri).with_name(PROFILE_NAME)
            profile = read_profile(path, version.artifact.sha256)
            assert list(profile.inputs) == list(model.spec.features)
            assert profile.rows > 1000
            assert Profile.of_record(profile.as_record()) == profile


def test_a_profile_of_another_artifact_is_refused(repo: Path, tmp_path: Path) -> None:
    record = json.loads((repo / "models/fraud/v2" / PROFILE_NAME).read_text())
    record["sha256"] = "0" * 64
    path = tmp_path / PROFILE_NAME
    path.write_text(json.dumps(record))
    with pytest.raises(UsageError, match=r"profiles sha256 0{64}, but the spec pins .*--profile-only"):
        read_profile(path, "1" * 64)
    with pytest.raises(UsageError, match="does not exist"):
        read_profile(tmp_path / "nothing.json")
