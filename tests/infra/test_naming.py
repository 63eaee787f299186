"""Physical names and tags."""

from __future__ import annotations

from infra.naming import bucket_name, model_service_account, physical_name, spec_tags


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
