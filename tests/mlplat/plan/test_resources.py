"""Plan diffs: what is replaced, updated, rolled, added or removed, and which changes put state at risk."""

from __future__ import annotations

import json

from mlplat.plan import Action, RenderedResource, diff
from mlplat.plan.report import sections, to_json, to_markdown, to_text
from mlplat.plan.runner import PlanReport
from mlplat.plan.spec_changes import SpecChange

DB = "aws:rds/instance:Instance"
ROLE = "aws:iam/role:Role"
NODES = "aws:eks/nodeGroup:NodeGroup"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"


def _db(**inputs: object) -> RenderedResource:
    base = {"engine": "mysql", "engineVersion": "8.0.40", "instanceClass": "db.r6g.large", "tags": {"env": "prod"}}
    return RenderedResource(DB, "registry", {**base, **inputs}, protect=True)


def _nodes(instance_type: str) -> RenderedResource:
    inputs = {"nodeGroupName": "mlplat-prod-serving", "instanceTypes": [instance_type], "scalingConfig": {"minSize": 2}}
    return RenderedResource(NODES, "serving", inputs)


def test_identical_renders_have_no_changes() -> None:
    plan = diff("prod", "main", [_db()], [_db()])
    assert plan.changes == ()
    assert plan.dangerous == ()


def test_added_and_removed_resources_are_listed() -> None:
    role = RenderedResource(ROLE, "model-fraud", {"assumeRolePolicy": "{}"})
    plan = diff("prod", "main", [_db()], [_db(), role])
    assert [(c.action, c.name) for c in plan.changes] == [(Action.ADD, "model-fraud")]
    assert plan.dangerous == ()
    removed = diff("prod", "main", [_db(), role], [_db()])
    assert [(c.action, c.name) for c in removed.changes] == [(Action.REMOVE, "model-fraud")]


def test_instance_class_change_is_a_dangerous_in_place_update_with_the_property() -> None:
    plan = diff("prod", "main", [_db()], [_db(instanceClass="db.r6g.xlarge")])
    (change,) = plan.changes
    assert change.action is Action.UPDATE
    assert change.dangerous
    assert [(p.path, p.before, p.after) for p in change.properties] == [
        ("instanceClass", "db.r6g.large", "db.r6g.xlarge")
    ]


def test_a_major_engine_version_is_an_update_with_a_warning_and_a_minor_one_is_plain() -> None:
    (major,) = diff("prod", "main", [_db()], [_db(engineVersion="8.4.3")]).changes
    assert major.action is Action.UPDATE
    assert "major engine upgrade" in major.notes[0]
    (minor,) = diff("prod", "main", [_db()], [_db(engineVersion="8.0.41")]).changes
    assert minor.notes == ()


def test_engine_change_replaces_the_database_and_names_the_forcing_input() -> None:
    plan = diff("prod", "main", [_db()], [_db(engine="mariadb")])
    (change,) = plan.changes
    assert change.action is Action.REPLACE
    assert change.forcing == ("engine",)
    assert plan.dangerous == plan.changes


def test_new_instance_types_replace_the_node_group_which_collides_on_its_fixed_name() -> None:
    plan = diff("prod", "main", [_nodes("m7i.large")], [_nodes("m7i.xlarge")])
    (change,) = plan.changes
    assert change.action is Action.REPLACE
    assert change.forcing == ("instanceTypes[0]",)
    assert "fixed name 'mlplat-prod-serving'" in change.notes[0]
    scaled = diff(
        "prod",
        "main",
        [_nodes("m7i.large")],
        [RenderedResource(NODES, "serving", {**_nodes("m7i.large").inputs, "scalingConfig": {"minSize": 3}})],
    )
    assert scaled.changes[0].action is Action.UPDATE


def test_a_pod_template_change_rolls_the_deployment_and_a_catalog_change_replaces_its_config_map() -> None:
    def deployment(digest: str) -> RenderedResource:
        spec = {"replicas": 2, "template": {"metadata": {"annotations": {"mlplat.dev/catalog-digest": digest}}}}
        return RenderedResource(
            DEPLOYMENT, "deployment-model-fraud", {"metadata": {"name": "model-fraud"}, "spec": spec}
        )

    def config_map(ttl: str) -> RenderedResource:
        catalog = {
            "documents": [{"kind": "FeatureView", "metadata": {"name": "repayment_history"}, "spec": {"ttl": ttl}}]
        }
        inputs = {"metadata": {"name": "model-fraud-catalog"}, "data": {"catalog.json": json.dumps(catalog)}}
        return RenderedResource(CONFIG_MAP, "configmap-model-fraud-catalog", inputs)

    plan = diff("prod", "main", [deployment("a"), config_map("7d")], [deployment("b"), config_map("14d")])
    by_name = {c.name: c for c in plan.changes}
    assert by_name["deployment-model-fraud"].action is Action.ROLL
    replaced = by_name["configmap-model-fraud-catalog"]
    assert replaced.action is Action.REPLACE
    # The JSON inside the ConfigMap is diffed by structure: one leaf, with its path.
    assert [(p.path, p.before, p.after) for p in replaced.properties] == [
        ('data["catalog.json"].documents[FeatureView/repayment_history].spec.ttl', "7d", "14d")
    ]
    assert "deleted before its replacement is created" in replaced.notes[0]


def test_nested_changes_are_reported_by_path() -> None:
    plan = diff("prod", "main", [_db()], [_db(tags={"env": "prod", "owner": "risk"})])
    assert [p.path for p in plan.changes[0].properties] == ["tags.owner"]


def test_losing_protection_is_a_change() -> None:
    unprotected = RenderedResource(DB, "registry", _db().inputs, protect=False)
    plan = diff("prod", "main", [_db()], [unprotected])
    assert [(p.path, p.before, p.after) for p in plan.changes[0].properties] == [("(protect)", True, False)]


def test_json_form_counts_actions() -> None:
    role = RenderedResource(ROLE, "model-fraud", {})
    data = diff("prod", "main", [_db()], [_db(instanceClass="db.r6g.xlarge"), role]).as_dict()
    assert data["summary"] == {"replace": 0, "update": 1, "roll": 0, "add": 1, "remove": 0}
    assert data["dangerous"] == 1


def test_a_type_without_replacement_rules_is_reported() -> None:
    thing = RenderedResource("aws:new/thing:Thing", "x", {"a": 1})
    plan = diff("prod", "main", [thing], [RenderedResource("aws:new/thing:Thing", "x", {"a": 2})])
    assert plan.unknown_types == ("aws:new/thing:Thing",)
    assert "replacement rules unknown for aws:new/thing:Thing" in to_markdown(PlanReport("main", (), (plan,)))


def _report() -> PlanReport:
    removed = diff("prod", "main", [_db()], [])
    changes = (
        SpecChange("FeatureView/repayment_history", "spec.ttl", "7d", "14d"),
        SpecChange("Model/fraud", "spec.rollout.primary", "v2", "v3", "new artifact, sha256 0123456789ab…, found"),
    )
    return PlanReport("main", changes, (removed,))


def test_the_report_leads_with_spec_changes_in_spec_words_then_the_stack() -> None:
    titles = [s.title for s in sections(_report())]
    assert titles[0] == "spec changes against main"
    assert titles[1].startswith(
        "stack prod: 0 replaced, 0 updated in place, 0 pods that roll, 0 added, 1 removed (1 stateful)"
    )
    lines = [line for line, _ in to_text(_report())]
    assert "  FeatureView/repayment_history  spec.ttl  7d -> 14d" in lines
    assert "  Model/fraud  spec.rollout.primary  v2 -> v3 (new artifact, sha256 0123456789ab…, found)" in lines


def test_text_and_markdown_say_the_same_things_and_markdown_is_loud_about_state() -> None:
    markdown = to_markdown(_report())
    assert "> [!CAUTION]\n> **remove of stateful resource registry (aws:rds/instance:Instance)**" in markdown
    assert "- `FeatureView/repayment_history`  `spec.ttl`  7d -> 14d" in markdown
    assert "- **`registry`  `aws:rds/instance:Instance`  [STATEFUL: its data is lost]**" in markdown
    for line, _ in to_text(_report()):
        words = line.strip().removeprefix("! ")
        assert words.replace("`", "") in markdown.replace("`", "").replace("**", ""), words


def test_json_report_holds_the_spec_changes_and_every_stack() -> None:
    data = to_json(_report())
    assert data["specChanges"][0] == {
        "object": "FeatureView/repayment_history",
        "path": "spec.ttl",
        "before": "7d",
        "after": "14d",
        "note": "",
    }
    assert data["stacks"][0]["changes"][0]["action"] == "remove"
    json.dumps(data)
