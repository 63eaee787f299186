"""The deploy workflows and the image push between the two stacks.

The workflows run on GitHub; here they are read as data (the order of the steps, who may
assume which role, no stored key) and the push script runs for real against stand-ins
for ``pulumi``, ``aws`` and ``docker`` on ``PATH`` that record their calls.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.rendering import REPO

WORKFLOWS = REPO / ".github" / "workflows"
PUSH_IMAGES = REPO / "infra" / "stacks" / "push-images.sh"


def _workflow(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    document["on"] = document.pop(True)  # YAML 1.1 reads the key `on` as a boolean
    return document


def test_an_environment_deploys_the_platform_then_the_images_then_the_workloads() -> None:
    job = _workflow("deploy-environment.yml")["jobs"]["deploy"]
    assert job["environment"] == "${{ inputs.stack }}"
    names = [step.get("name") for step in job["steps"]]
    platform, images, workloads = (names.index(n) for n in ("platform stack", "images", "workloads stack"))
    assert platform < images < workloads
    steps = {step.get("name"): step for step in job["steps"]}
    assert steps["platform stack"]["run"].startswith("pulumi up --stack")
    assert "--policy-pack infra/policy" in steps["platform stack"]["run"]
    assert steps["images"]["run"].startswith("infra/stacks/push-images.sh")
    workloads_dir = REPO / steps["workloads stack"]["working-directory"]
    assert (workloads_dir / "Pulumi.yaml").is_file()
    # The pack checks the Deployments too, so the workloads stack runs it as well.
    pack = steps["workloads stack"]["run"].split("--policy-pack ")[1].split()[0]
    assert (workloads_dir / pack / "PulumiPolicy.yaml").is_file()
    assert job["concurrency"]["cancel-in-progress"] is False


def test_a_merge_deploys_staging_then_prod_and_a_pull_request_only_previews() -> None:
    workflow = _workflow("deploy.yml")
    assert set(workflow["on"]) == {"pull_request", "push"}
    jobs = workflow["jobs"]
    assert jobs["staging"]["with"] == {"stack": "staging"}
    assert (jobs["prod"]["with"], jobs["prod"]["needs"]) == ({"stack": "prod"}, "staging")
    assert jobs["preview"]["if"] == "github.event_name == 'pull_request'"
    runs = [step.get("run", "") for step in jobs["preview"]["steps"]]
    assert any(run.startswith("pulumi preview") for run in runs)
    assert not any("pulumi up" in run for run in runs)


@pytest.mark.parametrize("name", ["deploy.yml", "deploy-environment.yml"])
def test_credentials_are_short_lived_roles_never_stored_keys(name: str) -> None:
    text = (WORKFLOWS / name).read_text()
    assert "aws-access-key-id" not in text
    assert "secrets.AWS" not in text
    for job in _workflow(name)["jobs"].values():
        logins = [s for s in job.get("steps", []) if str(s.get("uses", "")).startswith("aws-actions/configure-aws")]
        for login in logins:
            assert login["with"]["role-to-assume"].startswith("${{ vars.")
            assert job["permissions"]["id-token"] == "write"


def _stand_in(directory: Path, name: str, script: str) -> None:
    path = directory / name
    path.write_text("#!/usr/bin/env bash\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_the_push_script_builds_and_pushes_only_the_tags_the_registry_lacks(tmp_path: Path) -> None:
    registry = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    outputs = {
        "imageRepositories": {
            "mlplat-prod-feature-server": f"{registry}/mlplat-prod-feature-server",
            "mlplat-prod-model-server": f"{registry}/mlplat-prod-model-server",
            "mlplat-prod-jobs": f"{registry}/mlplat-prod-jobs",
        },
        "images": {"featureServer": "1.4.2", "modelServer": "1.5.0", "jobs": "0.3.0", "jobsRuntime": "0.2.0"},
    }
    log = tmp_path / "calls.log"
    (tmp_path / "outputs.json").write_text(json.dumps(outputs))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = f'echo "$(basename "$0") $*" >> {log}\n'
    _stand_in(
        bin_dir,
        "pulumi",
        record
        + f'python3 -c \'import json,sys; print(json.dumps(json.load(open("{tmp_path}/outputs.json"))[sys.argv[1]]))\' "$3"\n',
    )
    # The feature server's tag is in the registry already; the model server's and the jobs' are not.
    _stand_in(
        bin_dir,
        "aws",
        record + 'case "$*" in *feature-server*) exit 0;; *describe-images*) exit 1;; esac\necho token\n',
    )
    _stand_in(bin_dir, "docker", record + "cat >/dev/null || true\n")
    environment = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    result = subprocess.run(
        [str(PUSH_IMAGES), "prod"], env=environment, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    docker = [call for call in calls if call.startswith("docker")]
    assert docker == [
        f"docker login --username AWS --password-stdin {registry}",
        f"docker build --file services/Dockerfile --build-arg SERVICE=model_server --tag {registry}/mlplat-prod-model-server:1.5.0 .",
        f"docker push {registry}/mlplat-prod-model-server:1.5.0",
        f"docker build --file services/jobs/Dockerfile --tag {registry}/mlplat-prod-jobs:0.3.0 .",
        f"docker push {registry}/mlplat-prod-jobs:0.3.0",
    ]
    # The application moves to a job image only once it is pushed: the script says what to set next.
    assert "set images.jobsRuntime to it in Pulumi.prod.yaml" in result.stdout
    assert "The job image 0.3.0 is pushed" in result.stdout
    assert "pulumi stack output imageRepositories --json --stack prod" in calls
    assert f"{registry}/mlplat-prod-feature-server:1.4.2 is in the registry already" in result.stdout


def test_the_documented_deploy_commands_name_what_exists() -> None:
    text = (REPO / "docs" / "infra.md").read_text()
    first = text[text.index("## First deploy of an environment") : text.index("## A routine change")]
    routine = text[text.index("## A routine change") : text.index("## The deploy workflows")]
    for section in (first, routine):
        platform, images, workloads = (
            section.index(command)
            for command in ("pulumi up --stack", "infra/stacks/push-images.sh", "cd infra/stacks/workloads")
        )
        assert platform < images < workloads
    assert PUSH_IMAGES.is_file()
    assert os.access(PUSH_IMAGES, os.X_OK)
    assert (REPO / "infra" / "stacks" / "workloads" / "Pulumi.yaml").is_file()


def test_a_spec_pull_request_runs_the_tests_through_the_ci_entry_point() -> None:
    """README: `make test` is what CI runs, through `.ci/run`, which also installs the rules' tools.

    A bare `make test` under CI=true fails every test that needs promtool, prometheus or amtool.
    """
    runs = [step.get("run") for step in _workflow("spec-pr.yml")["jobs"]["test"]["steps"]]
    assert ".ci/run" in runs
    assert "make test" not in runs
    script = (REPO / ".ci" / "run").read_text()
    assert "prometheus prometheus-alertmanager" in script
    assert script.rstrip().endswith("make test")
