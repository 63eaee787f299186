"""Catalog lookups: what consumers get back, and what they are told when a name is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlplat.catalog import Catalog, JoinKey, ModelInput
from mlplat.errors import NotFoundError, exit_code_of, http_status_of
from mlplat.loader import load_catalog
from mlplat.spec.types import DType, JoinKeyType

SPECS = """\
apiVersion: mlplat/v1
kind: Entity
metadata: {name: applicant}
spec: {joinKey: applicant_id}
---
apiVersion: mlplat/v1
kind: Entity
metadata: {name: merchant}
spec: {joinKey: merchant_id, type: int64}
---
apiVersion: mlplat/v1
kind: Source
metadata: {name: orders}
spec: {path: orders.parquet, timestampField: event_timestamp}
---
apiVersion: mlplat/v1
kind: FeatureView
metadata: {name: pair_stats}
spec:
  entities:
    - merchant
    - {name: applicant, column: buyer_id}
  source: orders
  ttl: 30d
  features:
    - {name: orders_90d, dtype: int32, default: 0, description: Orders at this merchant in 90 days.}
    - {name: refund_rate, dtype: float32, reason: Many refunds at this merchant}
    - {name: first_seen, dtype: timestamp}
---
apiVersion: mlplat/v1
kind: FeatureView
metadata: {name: profile}
spec:
  entities: [applicant]
  source: orders
  ttl: 7d
  features:
    - {name: fico_score, dtype: int32, reason: Credit score is too low}
    - {name: utilization, dtype: float64}
---
apiVersion: mlplat/v1
kind: Model
metadata: {name: risk}
spec:
  framework: xgboost
  features:
    - profile:utilization
    - request:amount
    - pair_stats:refund_rate
    - profile:fico_score
    - pair_stats:orders_90d
  requestValues:
    - {name: amount, dtype: float64, description: Order amount}
  versions:
    - name: v1
      artifact: {uri: risk/v1.json, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}
      approval: {state: approved}
    - name: v2
      artifact: {uri: risk/v2.json, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}
  rollout: {primary: v1, shadow: {version: v2}}
  decision:
    threshold: 0.4
    reasonPhrases: {profile:fico_score: Score below our minimum}
"""


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    root = tmp_path_factory.mktemp("specs")
    (root / "specs.yaml").write_text(SPECS)
    return load_catalog(root)


def test_join_keys_follow_declaration_order_and_column_overrides(catalog: Catalog) -> None:
    assert catalog.join_keys("pair_stats") == (
        JoinKey(entity="merchant", column="merchant_id", request_key="merchant_id", type=JoinKeyType.INT64),
        JoinKey(entity="applicant", column="buyer_id", request_key="applicant_id", type=JoinKeyType.STRING),
    )
    assert catalog.join_keys("profile") == (
        JoinKey(entity="applicant", column="applicant_id", request_key="applicant_id", type=JoinKeyType.STRING),
    )


def test_model_inputs_keep_the_spec_order_and_resolve_reasons(catalog: Catalog) -> None:
    assert catalog.model_inputs("risk") == (
        ModelInput("profile:utilization", "profile", "utilization", DType.FLOAT64, None, "utilization"),
        ModelInput("request:amount", None, "amount", DType.FLOAT64, None, "Order amount"),
        ModelInput(
            "pair_stats:refund_rate", "pair_stats", "refund_rate", DType.FLOAT32, None, "Many refunds at this merchant"
        ),
        ModelInput("profile:fico_score", "profile", "fico_score", DType.INT32, None, "Score below our minimum"),
        ModelInput(
            "pair_stats:orders_90d", "pair_stats", "orders_90d", DType.INT32, 0, "Orders at this merchant in 90 days."
        ),
    )
    assert [i.from_request for i in catalog.model_inputs("risk")] == [False, True, False, False, False]


def test_feature_resolves_a_reference(catalog: Catalog) -> None:
    view, feature = catalog.feature("profile:fico_score")
    assert view.metadata.name == "profile"
    assert feature.dtype is DType.INT32


@pytest.mark.parametrize(
    ("lookup", "message"),
    [
        (
            lambda c: c.feature_view("profiles"),
            "feature view 'profiles' does not exist; defined: 'pair_stats', 'profile' (did you mean 'profile'?)",
        ),
        (lambda c: c.feature_view("zzz"), "feature view 'zzz' does not exist; defined: 'pair_stats', 'profile'"),
        (lambda c: c.model("risky"), "model 'risky' does not exist; defined: 'risk' (did you mean 'risk'?)"),
        (
            lambda c: c.feature("profile:fico"),
            "feature 'profile:fico' does not exist; profile has 'fico_score', 'utilization' (did you mean 'fico_score'?)",
        ),
        (
            lambda c: c.feature("prfile:fico_score"),
            "feature view 'prfile' does not exist; defined: 'pair_stats', 'profile' (did you mean 'profile'?)",
        ),
        (
            lambda c: c.model_version("risk", "v3"),
            "model 'risk' has no version 'v3'; defined: 'v1', 'v2'",
        ),
        (lambda c: c.join_keys("nope"), "feature view 'nope' does not exist; defined: 'pair_stats', 'profile'"),
        (lambda c: c.model_inputs("nope"), "model 'nope' does not exist; defined: 'risk'"),
    ],
)
def test_unknown_names_say_what_exists(catalog: Catalog, lookup: object, message: str) -> None:
    with pytest.raises(NotFoundError) as caught:
        lookup(catalog)  # type: ignore[operator]
    assert str(caught.value) == message
    assert exit_code_of(caught.value) == 1
    assert http_status_of(caught.value) == 404


def test_model_version(catalog: Catalog) -> None:
    assert catalog.model_version("risk", "v2").approval.state == "pending"


def test_objects_come_in_a_stable_order(catalog: Catalog) -> None:
    assert [(o.kind, o.metadata.name) for o in catalog.objects()] == [
        ("Entity", "applicant"),
        ("Entity", "merchant"),
        ("Source", "orders"),
        ("FeatureView", "pair_stats"),
        ("FeatureView", "profile"),
        ("Model", "risk"),
    ]


def test_catalog_mappings_are_read_only(catalog: Catalog) -> None:
    with pytest.raises(TypeError):
        catalog.models["other"] = catalog.models["risk"]  # type: ignore[index]


def test_snapshot_round_trip(catalog: Catalog) -> None:
    again = Catalog.from_snapshot(catalog.to_snapshot())
    assert again.digest == catalog.digest
    assert again.join_keys("pair_stats") == catalog.join_keys("pair_stats")
    assert again.model_inputs("risk") == catalog.model_inputs("risk")


def test_subset_of_a_model_holds_exactly_what_it_refers_to(specs_dir: Path) -> None:
    fraud = load_catalog(specs_dir).subset(models=["fraud"])
    assert set(fraud.models) == {"fraud"}
    assert set(fraud.feature_views) == {"application_velocity", "bureau_profile", "merchant_risk"}
    assert set(fraud.entities) == {"applicant", "merchant"}
    # the push source comes with its batch source, and training brings its label source
    assert set(fraud.sources) == {
        "application_stream",
        "application_events",
        "bureau_snapshots",
        "merchant_stats",
        "loan_outcomes",
    }
    assert Catalog.from_snapshot(fraud.to_snapshot()).digest == fraud.digest


def test_subset_of_a_view_is_independent_of_other_views(specs_dir: Path) -> None:
    merchant = load_catalog(specs_dir).subset(views=["merchant_risk"])
    assert set(merchant.feature_views) == {"merchant_risk"}
    assert set(merchant.entities) == {"merchant"}
    assert set(merchant.sources) == {"merchant_stats"}
    assert not merchant.models


def test_a_slice_keeps_the_callers_its_objects_grant(specs_dir: Path) -> None:
    catalog = load_catalog(specs_dir)
    fraud = catalog.subset(models=["fraud"])
    # The model's callers, and the readers of the views it reads: the slice validates on its own.
    assert set(fraud.callers) == {"checkout_api", "model_validation", "underwriting_console"}
    assert Catalog.from_snapshot(fraud.to_snapshot()).callers.keys() == fraud.callers.keys()
    velocity = catalog.subset(views=["application_velocity"])
    assert set(velocity.callers) == {"checkout_api"}  # the writer of its push source
