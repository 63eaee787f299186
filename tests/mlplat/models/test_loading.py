"""Artifacts come from a local root or S3 and are checked against the spec before parsing."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from mlplat.catalog import Catalog
from mlplat.models.artifacts import ArtifactError, ArtifactStore, fetch_verified, sha256_hex
from mlplat.models.loading import load_version, serving_versions
from mlplat.spec.kinds import Artifact, Canary, Framework, Model, Rollout, Shadow
from tests.model_fixtures import example_catalog, write_lightgbm, write_xgboost

BUCKET = "mlplat-artifacts-test"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("s3", region_name="eu-west-1")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        yield client


def test_local_artifact_is_returned_only_when_its_digest_matches(tmp_path: Path) -> None:
    digest = write_xgboost(tmp_path / "m" / "model.ubj", 4)
    store = ArtifactStore(root=tmp_path)
    assert fetch_verified(store, Artifact(uri="m/model.ubj", sha256=digest)).startswith(b"{")
    with pytest.raises(ArtifactError, match=f"has sha256 {digest}, but the spec pins 0{{64}}"):
        fetch_verified(store, Artifact(uri="m/model.ubj", sha256="0" * 64))
    with pytest.raises(ArtifactError, match=r"cannot read artifact 'm/absent\.ubj'"):
        fetch_verified(store, Artifact(uri="m/absent.ubj", sha256=digest))


def test_s3_artifact_is_downloaded_and_loaded(s3: object, tmp_path: Path, specs_dir: Path) -> None:
    local = tmp_path / "model.txt"
    digest = write_lightgbm(local, 13)
    boto3.client("s3", region_name="eu-west-1").put_object(
        Bucket=BUCKET, Key="fraud/v1/model.txt", Body=local.read_bytes()
    )
    catalog = _with_s3_uri(
        example_catalog(specs_dir, {"fraud": {"v1": digest}}), "fraud", f"s3://{BUCKET}/fraud/v1/model.txt"
    )
    state = load_version(catalog, ArtifactStore(root=tmp_path / "unused", s3_region="eu-west-1"), "fraud", "v1")
    assert state.ready, state.problem
    assert state.scorer is not None
    assert state.scorer.n_features == 13
    assert state.approved


def test_relative_uris_resolve_under_an_s3_artifact_root(s3: object, tmp_path: Path, specs_dir: Path) -> None:
    local = tmp_path / "model.txt"
    digest = write_lightgbm(local, 13)
    boto3.client("s3", region_name="eu-west-1").put_object(
        Bucket=BUCKET, Key="prod/fraud/v1/model.txt", Body=local.read_bytes()
    )
    catalog = example_catalog(specs_dir, {"fraud": {"v1": digest}})
    state = load_version(catalog, ArtifactStore(root=f"s3://{BUCKET}/prod/", s3_region="eu-west-1"), "fraud", "v1")
    assert state.ready, state.problem


def test_s3_artifact_with_the_wrong_digest_keeps_the_model_not_ready(
    s3: object, tmp_path: Path, specs_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    local = tmp_path / "model.txt"
    digest = write_lightgbm(local, 13)
    boto3.client("s3", region_name="eu-west-1").put_object(
        Bucket=BUCKET, Key="fraud/v1/model.txt", Body=b"tampered" + local.read_bytes()
    )
    catalog = _with_s3_uri(
        example_catalog(specs_dir, {"fraud": {"v1": digest}}), "fraud", f"s3://{BUCKET}/fraud/v1/model.txt"
    )
    with caplog.at_level(logging.ERROR, logger="mlplat.models"):
        state = load_version(catalog, ArtifactStore(root=tmp_path, s3_region="eu-west-1"), "fraud", "v1")
    assert not state.ready
    assert state.problem is not None
    assert "refusing to load it" in state.problem
    assert "model fraud version v1 is not ready" in caplog.text
    assert f"s3://{BUCKET}/fraud/v1/model.txt has sha256" in caplog.text


def test_missing_s3_object_keeps_the_model_not_ready(s3: object, tmp_path: Path, specs_dir: Path) -> None:
    catalog = _with_s3_uri(example_catalog(specs_dir, {"fraud": {"v1": "a" * 64}}), "fraud", f"s3://{BUCKET}/nope.txt")
    state = load_version(catalog, ArtifactStore(root=tmp_path, s3_region="eu-west-1"), "fraud", "v1")
    assert not state.ready
    assert state.problem is not None
    assert f"cannot download artifact s3://{BUCKET}/nope.txt" in state.problem


def test_a_model_whose_width_disagrees_with_its_spec_is_not_ready(tmp_path: Path, specs_dir: Path) -> None:
    digest = write_xgboost(tmp_path / "default_risk" / "v1" / "model.ubj", 5)
    catalog = example_catalog(specs_dir, {"default_risk": {"v1": digest}})
    state = load_version(catalog, ArtifactStore(root=tmp_path), "default_risk", "v1")
    assert state.problem == (
        "model default_risk version v1 takes 5 features, but its spec lists 19; retrain it on the spec's features"
    )


def test_serving_versions_lists_primary_canary_and_shadow_once(specs_dir: Path) -> None:
    rollout = Rollout(primary="v1", canary=Canary(version="v2", percent=10), shadow=Shadow(version="v3"))
    catalog = example_catalog(
        specs_dir, {"fraud": {"v1": "a" * 64, "v2": "b" * 64, "v3": "c" * 64}}, {"fraud": rollout}
    )
    assert serving_versions(catalog, "fraud") == ("v1", "v2", "v3")
    assert serving_versions(catalog, "default_risk") == ("v1",)


def _with_s3_uri(catalog: Catalog, model: str, uri: str) -> Catalog:
    objects = []
    for obj in catalog.objects():
        if isinstance(obj, Model) and obj.metadata.name == model:
            version = obj.spec.versions[0]
            version = version.model_copy(update={"artifact": version.artifact.model_copy(update={"uri": uri})})
            objects.append(obj.model_copy(update={"spec": obj.spec.model_copy(update={"versions": [version]})}))
        else:
            objects.append(obj)
    return Catalog(objects)


def test_stored_column_names_must_follow_the_spec_order(tmp_path: Path, specs_dir: Path) -> None:
    import xgboost

    from tests.model_fixtures import training_data

    catalog = example_catalog(specs_dir, {"fraud": {"v1": "a" * 64}})
    names = [i.name for i in catalog.model_inputs("fraud")]
    swapped = [names[1], names[0], *names[2:]]
    x, y = training_data(len(names))
    booster = xgboost.train(
        {"objective": "binary:logistic", "nthread": 1}, xgboost.DMatrix(x, label=y, feature_names=swapped), 2
    )
    path = tmp_path / "fraud" / "v1" / "model.json"
    path.parent.mkdir(parents=True)
    booster.save_model(str(path))
    fraud = catalog.model("fraud")
    xgb_spec = fraud.spec.model_copy(update={"framework": Framework.XGBOOST})
    version = xgb_spec.versions[0]
    artifact = version.artifact.model_copy(
        update={"uri": "fraud/v1/model.json", "sha256": sha256_hex(path.read_bytes())}
    )
    xgb_spec = xgb_spec.model_copy(update={"versions": [version.model_copy(update={"artifact": artifact})]})
    objects = [fraud.model_copy(update={"spec": xgb_spec}) if o is fraud else o for o in catalog.objects()]
    state = load_version(Catalog(objects), ArtifactStore(root=tmp_path), "fraud", "v1")
    assert state.problem == (
        "model fraud version v1 was trained with column 0 named 'applications_24h', but spec.features[0] is "
        "'applications_1h'; the spec's feature order must match the training columns"
    )
