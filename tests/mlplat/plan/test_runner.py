"""`mlplat plan` end to end: the spec changes and two real renders (working tree and a git base), compared."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from mlplat.catalog import SpecValidationError
from mlplat.errors import UsageError
from mlplat.plan import Action
from mlplat.plan import report as reporting
from mlplat.plan.runner import plan

COPIED = ("mlplat", "infra", "specs", "Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.staging.yaml", "Pulumi.prod.yaml")
GIT_ENV = {
    "GIT_AUTHOR_NAME": "plan test",
    "GIT_AUTHOR_EMAIL": "plan@test.invalid",
    "GIT_COMMITTER_NAME": "plan test",
    "GIT_COMMITTER_EMAIL": "plan@test.invalid",
}


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env={**os.environ, **GIT_ENV})


@pytest.fixture(scope="module")
def base_repo(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("plan") / "repo"
    work.mkdir()
    for name in COPIED:
        source = repo / name
        if source.is_dir():
            shutil.copytree(source, work / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, work / name)
    _git(work, "init", "--quiet", "--initial-branch=main")
    _git(work, "add", "-A")
    _git(work, "commit", "--quiet", "-m", "base")
    return work


@pytest.fixture
def tree(base_repo: Path) -> Iterator[Path]:
    yield base_repo
    _git(base_repo, "checkout", "--quiet", "--", ".")
    _git(base_repo, "clean", "--quiet", "-fd")


@pytest.mark.slow
def test_adding_a_model_plans_exactly_its_role_kubernetes_objects_and_rules(tree: Path) -> None:
    spec = (tree / "specs/models/fraud.yaml").read_text().replace("name: fraud\n", "name: fraud_challenger\n", 1)
    (tree / "specs/models/fraud_challenger.yaml").write_text(spec)
    report = plan(tree, ["prod"], "main")
    assert [(c.object, c.path) for c in report.spec_changes] == [("Model/fraud_challenger", "")]
    (result,) = report.plans
    rules = ("aws:amp/ruleGroupNamespace:RuleGroupNamespace", "mlplat-prod-monitoring-slo-rules")
    # The model's SLO rules join the rule namespace: an update in place, nothing else changes.
    assert {(c.type, c.name) for c in result.changes if c.action is not Action.ADD} == {rules}
    assert result.dangerous == ()
    added = {(c.type, c.name) for c in result.changes if c.action is Action.ADD}
    assert ("aws:iam/role:Role", "mlplat-prod-model-fraud-challenger-role") in added
    kubernetes = {name for kind, name in added if kind.startswith("kubernetes:")}
    assert kubernetes == {
        "serviceaccount-model-fraud-challenger",
        "configmap-model-fraud-challenger-catalog",
        "deployment-model-fraud-challenger",
        "service-model-fraud-challenger",
        "horizontalpodautoscaler-model-fraud-challenger",
        "poddisruptionbudget-model-fraud-challenger",
        "networkpolicy-model-fraud-challenger",
    }
    assert all("fraud-challenger" in name for _, name in added)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("key", "value", "action"),
    [("instanceClass", "db.m7g.xlarge", Action.UPDATE), ("engineVersion", "8.0", Action.UPDATE)],
)
def test_database_changes_are_flagged_as_stateful(tree: Path, key: str, value: str, action: Action) -> None:
    path = tree / "Pulumi.prod.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["mlplat:platform"]["database"][key] = value
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    (result,) = plan(tree, ["prod"], "main").plans
    database = [c for c in result.changes if c.type == "aws:rds/instance:Instance"]
    assert [c.action for c in database] == [action]
    assert database[0].dangerous
    assert result.dangerous[0] == database[0]
    assert key in {p.path for p in database[0].properties}


def _set_config(tree: Path, section: str, key: str, value: object) -> None:
    path = tree / "Pulumi.prod.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["mlplat:platform"][section][key] = value
    path.write_text(yaml.safe_dump(document, sort_keys=False))


@pytest.mark.slow
def test_new_node_instance_types_replace_the_node_group_beside_the_old_one(tree: Path) -> None:
    cluster = yaml.safe_load((tree / "Pulumi.prod.yaml").read_text())["config"]["mlplat:platform"]["cluster"]
    nodes = {**cluster["servingNodes"], "instanceTypes": ["m7i.2xlarge"]}
    _set_config(tree, "cluster", "servingNodes", nodes)
    (result,) = plan(tree, ["prod"], "main").plans
    (replaced,) = [c for c in result.changes if c.type == "aws:eks/nodeGroup:NodeGroup"]
    assert replaced.action is Action.REPLACE
    assert replaced.forcing
    assert replaced.forcing[0].startswith("instanceTypes")
    # The group is named from a prefix, so the new one is created beside the old one.
    assert not any("collides" in note for note in replaced.notes)


@pytest.mark.slow
def test_a_ttl_change_leads_with_the_spec_change_and_rolls_the_pods_that_read_the_view(tree: Path) -> None:
    path = tree / "specs/features/repayment_history.yaml"
    path.write_text(path.read_text().replace("ttl: 7d", "ttl: 14d", 1))
    progress: list[str] = []
    report = plan(tree, ["dev"], "main", progress=progress.append)
    assert [(c.object, c.path, c.before, c.after) for c in report.spec_changes] == [
        ("FeatureView/repayment_history", "spec.ttl", "7d", "14d")
    ]
    (result,) = report.plans
    rolled = {c.name for c in result.of(Action.ROLL)}
    assert "deployment-feature-server" in rolled
    # The base ran the working tree's code (only specs differ); its files compare equal.
    assert [p.path for c in result.changes for p in c.properties if "fileAsset" in p.path] == []
    assert any(message.startswith("rendered dev at main in") for message in progress)
    # Planning against the same base again renders only the working tree.
    again: list[str] = []
    assert plan(tree, ["dev"], "main", progress=again.append).plans == report.plans
    assert any("main from the cache of" in message for message in again)
    assert not any(message.startswith("rendered dev at main") for message in again)


def _fenced_after(text: str, marker: str) -> list[str]:
    """The lines of the first fenced block after ``marker``."""
    block = text[text.index(marker) :].split("```", 2)[1]
    return block.splitlines()[1:]  # the line of the fence names the language


@pytest.mark.slow
def test_the_documented_ttl_plan_is_what_mlplat_plan_prints(repo: Path, tree: Path) -> None:
    """README.md and docs/infra.md show a real plan; to refresh them, print this one and paste it."""
    path = tree / "specs/features/repayment_history.yaml"
    path.write_text(path.read_text().replace("ttl: 7d", "ttl: 14d", 1))
    report = plan(tree, ["prod"], "main")
    printed = [line for line, _ in reporting.to_text(report)]
    infra = (repo / "docs" / "infra.md").read_text()
    assert _fenced_after(infra, "A real plan: `repayment_history`'s ttl") == printed
    # The pull-request comment: the quoted start of the markdown.
    quoted = [line.removeprefix(">").removeprefix(" ") for line in infra.splitlines() if line.startswith(">")]
    assert reporting.to_markdown(report).splitlines()[: len(quoted)] == quoted
    # The README's excerpt: its lines in order, `...` standing for the ones left out.
    shown = _fenced_after((repo / "README.md").read_text(), "Raising `repayment_history`'s ttl")
    remaining = iter(printed)
    assert all(line in remaining for line in shown if line.strip() != "..."), shown


def test_an_unknown_base_is_a_usage_error(tree: Path) -> None:
    with pytest.raises(UsageError, match="no-such-ref"):
        plan(tree, ["dev"], "no-such-ref")


def test_an_unknown_stack_is_a_usage_error_before_anything_is_checked_out(tree: Path) -> None:
    progress: list[str] = []
    with pytest.raises(UsageError, match=r"--stack 'dve' has no Pulumi.dve.yaml .*stacks: dev, prod, staging .*'dev'"):
        plan(tree, ["dev", "dve"], "main", progress=progress.append)
    assert progress == []


def test_a_directory_without_stacks_says_to_run_at_the_repository_root(tmp_path: Path) -> None:
    with pytest.raises(
        UsageError, match=r"no Pulumi\.<stack>\.yaml: run mlplat plan at the repository root, or pass --repo"
    ):
        plan(tmp_path, ["dev"], "main")


def test_broken_specs_fail_with_their_located_errors_before_rendering(tree: Path) -> None:
    (tree / "specs/models/broken.yaml").write_text("apiVersion: mlplat/v1\nkind: Model\n")
    progress: list[str] = []
    with pytest.raises(SpecValidationError, match=r"broken.yaml:1:1: error: metadata: required field 'metadata'"):
        plan(tree, ["dev"], "main", progress=progress.append)
    assert progress == []


@pytest.mark.slow
def test_a_base_with_other_code_is_rendered_with_its_own_code(tree: Path) -> None:
    program = tree / "infra/naming.py"
    program.write_text(program.read_text().replace('MANAGED_BY = "mlplat"', 'MANAGED_BY = "mlplat-next"', 1))
    (result,) = plan(tree, ["dev"], "main", cache=False).plans
    tags = {p.path for c in result.changes for p in c.properties}
    # Only the working tree has the new tag value: the base was rendered with its own code.
    assert 'tags["managed-by"]' in tags
    assert all(p.before == "mlplat" for c in result.changes for p in c.properties if p.path == 'tags["managed-by"]')
