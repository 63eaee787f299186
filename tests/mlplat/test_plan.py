"""Plan diffs: what is added, removed, changed, and which changes put state at risk."""

from __future__ import annotations

from mlplat.plan import Action, RenderedResource, diff, to_markdown

DB = "aws:rds/instance:Instance"
ROLE = "aws:iam/role:Role"


def _db(**inputs: object) -> RenderedResource:
    base = {"engine": "mysql", "engineVersion": "8.0.40", "instanceClass": "db.r6g.large", "tags": {"env": "prod"}}
    return RenderedResource(DB, "registry", {**base, **inputs}, protect=True)


def test_identical_renders_have_no_changes() -> None:
    plan = diff("prod", "main", [_db()], [_db()])
    assert plan.changes == ()
    assert plan.dangerous == ()


def test_added_and_removed_resources_are_listed() -> None:
    role = RenderedResource(ROLE, "model-fraud", {"name": "mlplat-prod-model-fraud"})
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


def test_engine_change_replaces_the_database() -> None:
    plan = diff("prod", "main", [_db()], [_db(engine="mariadb")])
    assert plan.changes[0].action is Action.REPLACE
    assert plan.dangerous == plan.changes


def test_nested_changes_are_reported_by_path() -> None:
    plan = diff("prod", "main", [_db()], [_db(tags={"env": "prod", "owner": "risk"})])
    assert [p.path for p in plan.changes[0].properties] == ["tags.owner"]


def test_removing_a_stateful_resource_sorts_first_and_is_loud_in_markdown() -> None:
    role = RenderedResource(ROLE, "model-fraud", {})
    plan = diff("prod", "main", [role], [_db(), role])
    assert plan.dangerous == ()
    dropped = diff("prod", "main", [_db(), role], [role])
    assert dropped.changes[0].action is Action.REMOVE
    assert dropped.changes[0].dangerous
    text = to_markdown([dropped])
    assert "[!CAUTION]" in text
    assert "remove of stateful resource** `registry`" in text


def test_losing_protection_is_a_change() -> None:
    unprotected = RenderedResource(DB, "registry", _db().inputs, protect=False)
    plan = diff("prod", "main", [_db()], [unprotected])
    assert [(p.path, p.before, p.after) for p in plan.changes[0].properties] == [("(protect)", True, False)]


def test_json_form_counts_actions() -> None:
    role = RenderedResource(ROLE, "model-fraud", {})
    data = diff("prod", "main", [_db()], [_db(instanceClass="db.r6g.xlarge"), role]).as_dict()
    assert data["summary"] == {"add": 1, "remove": 0, "update": 1, "replace": 0}
    assert data["dangerous"] == 1
