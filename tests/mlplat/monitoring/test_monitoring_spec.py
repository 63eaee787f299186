"""The Model spec's ``monitoring`` block: defaults, and thresholds that make sense."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

from mlplat.catalog import Catalog
from mlplat.loader import validate_directory


def test_defaults_are_the_credit_conventions(catalog: Catalog) -> None:
    monitoring = catalog.model("default_risk").spec.monitoring
    assert monitoring.window == timedelta(days=7)
    assert (monitoring.psi.watch, monitoring.psi.act) == (0.1, 0.25)
    assert (monitoring.approval_rate_shift.watch, monitoring.approval_rate_shift.act) == (0.05, 0.1)


def test_act_below_watch_is_an_error_naming_the_field(specs_dir: Path, tmp_path: Path) -> None:
    shutil.copytree(specs_dir, tmp_path / "specs")
    path = tmp_path / "specs/models/fraud.yaml"
    path.write_text(path.read_text() + "  monitoring:\n    window: 14d\n    psi: {watch: 0.3, act: 0.2}\n")
    result = validate_directory(tmp_path / "specs")
    assert result.catalog is None
    messages = [str(d) for d in result.errors]
    assert any("spec.monitoring.psi.act" in m and "act 0.2 is below watch 0.3" in m for m in messages), messages


def test_schedule_and_alert_thresholds_have_defaults(catalog: Catalog) -> None:
    monitoring = catalog.model("fraud").spec.monitoring
    assert monitoring.schedule == timedelta(hours=1)
    assert (monitoring.missing_share_rise.watch, monitoring.missing_share_rise.act) == (0.05, 0.1)
    assert (monitoring.stale_share.watch, monitoring.stale_share.act) == (0.01, 0.05)
    assert monitoring.min_realized_auc == 0.6


def test_a_schedule_is_written_like_a_materialization_interval(specs_dir: Path, tmp_path: Path) -> None:
    shutil.copytree(specs_dir, tmp_path / "specs")
    path = tmp_path / "specs/models/fraud.yaml"
    path.write_text(path.read_text() + "  monitoring:\n    schedule: 1d\n    staleShare: {watch: 0.2, act: 0.1}\n")
    result = validate_directory(tmp_path / "specs")
    messages = [str(d) for d in result.errors]
    assert any("spec.monitoring.staleShare.act" in m and "act 0.1 is below watch 0.2" in m for m in messages), messages
    path.write_text(
        path.read_text()
        .replace("schedule: 1d", "schedule: 90s")
        .replace("{watch: 0.2, act: 0.1}", "{watch: 0.01, act: 0.1}")
    )
    messages = [str(d) for d in validate_directory(tmp_path / "specs").errors]
    assert any("spec.monitoring.schedule" in m for m in messages), messages
