"""The committed dashboards are what the specs generate (``make dashboards``), and each is well formed."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mlplat.cli import app
from mlplat.loader import load_catalog
from mlplat.operations.dashboards import catalog_dashboards, render

REPO = Path(__file__).resolve().parents[3]
COMMITTED = REPO / "docs" / "dashboards"


def test_committed_dashboards_are_fresh() -> None:
    boards = catalog_dashboards(load_catalog(REPO / "specs"))
    committed = {path.name: path.read_text(encoding="utf-8") for path in COMMITTED.glob("*.json")}

    assert committed == {name: render(board) for name, board in boards.items()}, "run `make dashboards`"


def test_one_overview_one_per_model_one_per_online_view() -> None:
    catalog = load_catalog(REPO / "specs")
    boards = catalog_dashboards(catalog)
    online = [name for name, view in catalog.feature_views.items() if view.spec.online]

    assert set(boards) == {"overview.json"} | {f"model-{m}.json" for m in catalog.models} | {
        f"view-{v}.json" for v in online
    }
    assert len({board["uid"] for board in boards.values()}) == len(boards)
    for board in boards.values():
        assert board["panels"], board["uid"]
        assert all(
            t["expr"] and t["datasource"]["uid"] == "${datasource}" for p in board["panels"] for t in p["targets"]
        )


def test_the_cli_writes_them_and_drops_dashboards_of_removed_specs(tmp_path: Path) -> None:
    (tmp_path / "model-retired.json").write_text("{}")

    result = CliRunner().invoke(app, ["dashboards", "--specs", str(REPO / "specs"), "--output", str(tmp_path)])

    assert result.exit_code == 0, result.output
    assert not (tmp_path / "model-retired.json").exists()
    overview = json.loads((tmp_path / "overview.json").read_text())
    assert overview["uid"] == "mlplat-overview"
