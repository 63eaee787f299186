"""Physical names and tags."""

from __future__ import annotations

import typing
from typing import Any

from infra.config import Environment
from infra.naming import bucket_name, model_service_account, physical_name, spec_tags
from infra.rendering import render, stack_config
from mlplat.catalog import Catalog
from mlplat.name_limits import AUTONAME_SUFFIX, DERIVED_NAMES, ENVIRONMENTS, NAME_LIMITS, longest_name, too_long
from mlplat.spec.types import MAX_NAME_LENGTH


def test_names_are_deterministic_and_fit_aws_limits() -> None:
    longest = "a" * 32
    assert physical_name("staging", "model", "default_risk") == "mlplat-staging-model-default-risk"
    assert len(physical_name("staging", "model", longest)) <= 64  # IAM role names
    assert (
        bucket_name("prod", "artifacts", "123456789012", "eu-west-1") == "mlplat-prod-artifacts-123456789012-eu-west-1"
    )
    assert len(bucket_name("staging", "decision-archive", "123456789012", "ap-southeast-2")) <= 63
    assert model_service_account("default_risk") == "model-default-risk"
    assert spec_tags({"environment": "dev"}, "Model", "fraud", None) == {
        "environment": "dev",
        "mlplat-spec": "Model/fraud",
    }


def test_the_longest_names_validate_accepts_deploy_within_every_limit(example_catalog: Catalog) -> None:
    # The names `mlplat validate` lets through at the edge of mlplat.name_limits, rendered for real.
    model = longest_name("Model")
    view = min(longest_name("FeatureView"), MAX_NAME_LENGTH)
    long_model, long_view = "m" * model, "v" * view
    models = [_renamed(m, long_model) if m.metadata.name == "fraud" else m for m in example_catalog.models.values()]
    views = list(example_catalog.feature_views.values())
    scheduled = next(v for v in views if v.spec.materialization is not None)
    catalog = Catalog(
        [
            *example_catalog.entities.values(),
            *example_catalog.sources.values(),
            *views,
            *models,
            _renamed(scheduled, long_view),
        ]
    )
    rendered = render(catalog, stack_config("staging"))
    checked = 0
    for resource in rendered.resources:
        limit = NAME_LIMITS.get(resource.type)
        if limit is None or not ({long_model, long_view} & {resource.name.replace("-", "_"), *_parts(resource.name)}):
            continue
        explicit = resource.plain.get("name")
        length = len(explicit) if isinstance(explicit, str) else len(resource.name) + AUTONAME_SUFFIX
        assert length <= limit.limit, (resource.type, resource.name, length)
        checked += 1
    assert checked >= 4
    for derived_name in DERIVED_NAMES:
        assert (
            derived_name.length("staging", long_model if derived_name.kind == "Model" else long_view)
            <= derived_name.limit
        )
    assert too_long("Model", long_model + "m")


def _parts(name: str) -> set[str]:
    return {part for part in name.split("-") if part}


def _renamed(obj: Any, name: str) -> Any:
    return obj.model_copy(update={"metadata": obj.metadata.model_copy(update={"name": name})})


def test_the_environments_of_the_name_table_are_the_stack_config_ones() -> None:
    assert typing.get_args(Environment) == ENVIRONMENTS
