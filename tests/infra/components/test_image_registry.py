"""The image repositories, and the job image the Spark application runs on once it is pushed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra import aws_rules
from infra.config import StackConfig
from infra.iam_policies import EMR_SERVERLESS_IMAGE_ACTIONS
from infra.limits import resource_limit_problems
from infra.rendering import STACKS, Rendered, render_platform, stack_config
from mlplat.catalog import Catalog

REPOSITORY = "aws:ecr/repository:Repository"
REPOSITORY_POLICY = "aws:ecr/repositoryPolicy:RepositoryPolicy"
APPLICATION = "aws:emrserverless/application:Application"


def _runtime(config: StackConfig, tag: str) -> StackConfig:
    images = config.images.model_copy(update={"jobs": "1.3.0", "jobs_runtime": tag})
    return config.model_copy(update={"images": images})


@pytest.fixture(scope="module")
def pushed(example_catalog: Catalog) -> Rendered:
    """The prod platform stack once its job image ``1.2.3`` is in the registry (and ``1.3.0`` is to be pushed)."""
    return render_platform(example_catalog, _runtime(stack_config("prod"), "1.2.3"))


def _application(rendered: Rendered, stack: str) -> dict[str, Any]:
    return dict(rendered.one(APPLICATION, f"mlplat-{stack}-batch-spark").plain)


@pytest.mark.parametrize("stack", STACKS)
def test_the_job_repository_is_made_like_the_service_repositories(stacks: dict[str, Rendered], stack: str) -> None:
    repositories = {r.plain["name"]: r.plain for r in stacks[stack].of_type(REPOSITORY)}
    jobs = repositories[f"mlplat-{stack}-jobs"]
    service = repositories[f"mlplat-{stack}-feature-server"]
    for setting in ("imageTagMutability", "imageScanningConfiguration", "encryptionConfigurations"):
        assert jobs[setting] == service[setting]
    assert jobs["imageTagMutability"] == "IMMUTABLE"
    assert jobs["encryptionConfigurations"][0]["encryptionType"] == "KMS"
    assert f"mlplat-{stack}-jobs" in stacks[stack].outputs["imageRepositories"]


@pytest.mark.parametrize("stack", STACKS)
def test_only_emr_serverless_may_pull_the_job_image_and_only_for_the_application(
    stacks: dict[str, Rendered], stack: str
) -> None:
    rendered = stacks[stack]
    (policy,) = rendered.of_type(REPOSITORY_POLICY)  # no service repository is shared with EMR
    assert policy.plain["repository"] == f"mlplat-{stack}-jobs"
    (statement,) = json.loads(policy.plain["policy"])["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "emr-serverless.amazonaws.com"}
    assert sorted(statement["Action"]) == sorted(EMR_SERVERLESS_IMAGE_ACTIONS)
    assert not [a for a in statement["Action"] if "Put" in a or "Delete" in a or "*" in a]
    application_arn = f"arn:aws:emrserverless:eu-west-1:123456789012:mlplat-{stack}-batch-spark"
    assert statement["Condition"] == {"StringEquals": {"aws:SourceArn": application_arn}}


@pytest.mark.parametrize("stack", STACKS)
def test_the_application_has_no_image_until_the_config_names_a_pushed_one(
    stacks: dict[str, Rendered], stack: str
) -> None:
    assert stack_config(stack).images.jobs_runtime is None
    assert _application(stacks[stack], stack).get("imageConfiguration") is None
    assert stacks[stack].outputs["images"]["jobs"] == stack_config(stack).images.jobs  # what push-images.sh pushes


def test_the_application_runs_the_runtime_tag_not_the_one_still_to_be_pushed(pushed: Rendered) -> None:
    image = _application(pushed, "prod")["imageConfiguration"]["imageUri"]
    assert image == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlplat-prod-jobs:1.2.3"
    assert aws_rules.image_uri_problems(image) == []
    assert resource_limit_problems(APPLICATION, "app", {"imageConfiguration": {"imageUri": image}}) == []
    assert pushed.outputs["images"] == {**pushed.outputs["images"], "jobs": "1.3.0", "jobsRuntime": "1.2.3"}


def test_a_runtime_tag_is_an_image_tag() -> None:
    from infra.config import ImagesConfig

    with pytest.raises(ValueError, match="latest"):
        ImagesConfig.model_validate({"jobsRuntime": "latest"})
    assert ImagesConfig.model_validate({"jobsRuntime": "1.2.3"}).jobs_runtime == "1.2.3"


def test_the_pushed_stack_keeps_the_pull_policy_on_the_same_application(pushed: Rendered) -> None:
    (policy,) = pushed.of_type(REPOSITORY_POLICY)
    (statement,) = json.loads(policy.plain["policy"])["Statement"]
    assert statement["Condition"]["StringEquals"]["aws:SourceArn"].endswith(":mlplat-prod-batch-spark")
