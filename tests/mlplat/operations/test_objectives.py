"""SLOs from the specs: defaults, objectives set in a spec, and the freshness threshold of each view."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from mlplat.catalog import Catalog
from mlplat.loader import load_catalog
from mlplat.operations.objectives import Slo, SloKind, catalog_slos, default_max_age
from mlplat.spec.kinds import FeatureViewObjectives, FeatureViewSpec, Materialization, ModelObjectives

SPECS = Path(__file__).resolve().parents[3] / "specs"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(SPECS)


def _by_name(slos: list[Slo]) -> dict[str, Slo]:
    return {s.name: s for s in slos}


def test_every_model_and_online_view_gets_its_slos_with_the_defaults(catalog: Catalog) -> None:
    slos = _by_name(catalog_slos(catalog))

    assert slos["model_availability:default_risk"].objective == 0.999
    assert slos["model_latency:fraud"].latency_seconds == 0.03  # fraud's latencySloMs
    assert slos["model_latency:fraud"].error_budget == 0.01
    assert slos["view_freshness:repayment_history"].max_age == timedelta(hours=2)  # every 1h, twice
    assert slos["materialization_success:bureau_profile"].objective == 0.95
    scheduled = [n for n, v in catalog.feature_views.items() if v.spec.online and v.spec.materialization]
    assert {s.subject for s in slos.values() if s.kind is SloKind.MATERIALIZATION_SUCCESS} == set(scheduled)


def test_objectives_set_in_the_spec_replace_the_defaults(catalog: Catalog) -> None:
    model = catalog.model("fraud")
    serving = model.spec.serving.model_copy(
        update={"objectives": model.spec.serving.objectives.model_copy(update={"availability": 0.995})}
    )
    tuned = model.model_copy(update={"spec": model.spec.model_copy(update={"serving": serving})})
    view = catalog.feature_view("merchant_risk")
    goals = view.spec.objectives.model_copy(update={"max_age": timedelta(hours=1), "freshness": 0.9})
    fresher = view.model_copy(update={"spec": view.spec.model_copy(update={"objectives": goals})})
    objects = [o for o in catalog.objects() if o.metadata.name not in {"fraud", "merchant_risk"}]

    slos = _by_name(catalog_slos(Catalog([*objects, tuned, fresher])))

    assert slos["model_availability:fraud"].error_budget == 0.005
    assert (slos["view_freshness:merchant_risk"].max_age, slos["view_freshness:merchant_risk"].objective) == (
        timedelta(hours=1),
        0.9,
    )


@pytest.mark.parametrize(
    ("every", "ttl", "expected"),
    [
        (timedelta(hours=1), timedelta(days=7), timedelta(hours=2)),  # two missed schedules
        (timedelta(days=1), timedelta(days=1), timedelta(days=1)),  # never beyond the ttl
        (None, timedelta(hours=6), timedelta(hours=6)),  # push-only: the ttl
    ],
)
def test_default_max_age(every: timedelta | None, ttl: timedelta, expected: timedelta) -> None:
    spec = FeatureViewSpec.model_construct(
        ttl=ttl, materialization=Materialization.model_construct(every=every) if every else None
    )
    assert default_max_age(spec) == expected


def test_objectives_read_from_yaml_keys_and_refuse_impossible_values() -> None:
    goals = FeatureViewObjectives.model_validate({"maxAge": "3h", "materializationSuccess": 0.9})
    assert (goals.max_age, goals.materialization_success, goals.freshness) == (timedelta(hours=3), 0.9, 0.99)
    for bad in ({"availability": 1.0}, {"latency": 0.2}, {"availabilty": 0.99}):
        with pytest.raises(ValidationError):
            ModelObjectives.model_validate(bad)
