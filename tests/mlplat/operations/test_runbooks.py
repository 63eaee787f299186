"""Every alert links a runbook that exists, and every runbook belongs to an alert."""

from __future__ import annotations

from pathlib import Path

from mlplat.loader import load_catalog
from mlplat.operations.rules import RUNBOOK_DIR, all_alerts, catalog_rules

REPO = Path(__file__).resolve().parents[3]
SECTIONS = ("**What it means.**", "**First checks", "**Mitigations.**", "**Escalation.**")


def test_every_alert_of_the_rules_links_an_existing_runbook() -> None:
    rules = catalog_rules(load_catalog(REPO / "specs")).to_dict()
    alerts = [rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule]

    missing = [a["alert"] for a in alerts if not (REPO / a["annotations"]["runbook_url"]).is_file()]

    assert missing == []
    assert all(a["annotations"]["runbook_url"] == f"{RUNBOOK_DIR}/{a['alert']}.md" for a in alerts)


def test_every_runbook_belongs_to_an_alert_and_says_what_to_do() -> None:
    runbooks = {path.stem: path.read_text(encoding="utf-8") for path in (REPO / RUNBOOK_DIR).glob("*.md")}

    assert set(runbooks) == {alert.name for alert in all_alerts()}
    for name, text in runbooks.items():
        assert text.startswith(f"# {name} ("), name
        assert [section in text for section in SECTIONS] == [True] * len(SECTIONS), name
        assert "```sh" in text, f"{name}: first checks give exact commands"


def test_the_operations_guide_lists_every_alert_with_its_runbook() -> None:
    guide = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")

    assert [a.name for a in all_alerts() if f"(runbooks/{a.name}.md)" not in guide] == []
