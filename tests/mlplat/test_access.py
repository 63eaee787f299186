"""The specs' grants as the services apply them: who a principal is, what it lacks, and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlplat.access import AccessPolicy, Action, CallerIdentity, Principal
from mlplat.loader import load_catalog

CHECKOUT = Principal("checkout", "checkout-api")
VALIDATION = Principal("model-risk", "validation-runner")
CONSOLE = Principal("underwriting", "console")


@pytest.fixture(scope="module")
def policy(specs_dir: Path) -> AccessPolicy:
    return AccessPolicy(load_catalog(specs_dir))


def test_a_principal_is_the_caller_naming_its_service_account(policy: AccessPolicy) -> None:
    assert policy.identify(CHECKOUT) == CallerIdentity("checkout_api", CHECKOUT)
    assert policy.identify(Principal("checkout", "other")).name == "unknown"
    assert policy.caller_names == ("checkout_api", "model_validation", "underwriting_console")


@pytest.mark.parametrize(
    ("principal", "action", "resources", "missing"),
    [
        (CHECKOUT, Action.DECIDE, ["default_risk", "fraud"], []),
        (CHECKOUT, Action.INFER, ["fraud"], ["fraud"]),
        (VALIDATION, Action.INFER, ["default_risk", "fraud"], []),
        (VALIDATION, Action.DECIDE, ["fraud"], ["fraud"]),
        (CHECKOUT, Action.PUSH, ["application_stream"], []),
        (CONSOLE, Action.PUSH, ["application_stream"], ["application_stream"]),
        (CONSOLE, Action.READ, ["bureau_profile", "repayment_history"], []),
        (
            CONSOLE,
            Action.READ,
            ["merchant_risk", "bureau_profile", "application_velocity"],
            ["application_velocity", "merchant_risk"],
        ),
        (CHECKOUT, Action.DECIDE, ["no_such_model"], ["no_such_model"]),
        (Principal("x", "y"), Action.READ, ["bureau_profile"], ["bureau_profile"]),
    ],
)
def test_missing_grants(
    policy: AccessPolicy, principal: Principal, action: Action, resources: list[str], missing: list[str]
) -> None:
    assert policy.missing(policy.identify(principal), action, resources) == missing


@pytest.mark.parametrize(
    ("principal", "action", "missing", "message"),
    [
        (
            VALIDATION,
            Action.DECIDE,
            ["fraud"],
            "caller 'model_validation' (model-risk/validation-runner) may not take decisions with model 'fraud'; "
            "add it to spec.serving.callers of 'fraud'",
        ),
        (
            CONSOLE,
            Action.READ,
            ["merchant_risk", "application_velocity"],
            "caller 'underwriting_console' (underwriting/console) may not read feature views 'application_velocity', "
            "'merchant_risk'; add it to spec.readers of 'application_velocity', 'merchant_risk'",
        ),
        (
            CHECKOUT,
            Action.PUSH,
            ["bureau_snapshots"],
            "'bureau_snapshots' is a batch source, written by pipelines: nobody may push to it; push to a push source",
        ),
        (
            Principal("x", "y"),
            Action.PUSH,
            ["application_stream"],
            "service account x/y is not a Caller in the specs, so it may not push to source 'application_stream'; "
            "define a Caller for it and add that caller to spec.writers of 'application_stream'",
        ),
    ],
)
def test_a_denial_names_the_missing_grant_and_where_to_write_it(
    policy: AccessPolicy, principal: Principal, action: Action, missing: list[str], message: str
) -> None:
    assert policy.denial(policy.identify(principal), action, missing) == message


@pytest.mark.parametrize(
    ("principal", "action", "granted"),
    [
        (CHECKOUT, Action.PUSH, True),
        (CHECKOUT, Action.READ, False),
        (CONSOLE, Action.READ, True),
        (CONSOLE, Action.PUSH, False),
        (VALIDATION, Action.INFER, True),
        (VALIDATION, Action.DECIDE, False),
        (Principal("x", "y"), Action.READ, False),
    ],
)
def test_whether_a_caller_holds_an_actions_grant_on_anything(
    policy: AccessPolicy, principal: Principal, action: Action, granted: bool
) -> None:
    assert policy.grants_any(policy.identify(principal), action) is granted


def test_a_denial_of_every_resource_says_where_grants_are_written(policy: AccessPolicy) -> None:
    assert policy.denial_of_all(policy.identify(CHECKOUT), Action.READ) == (
        "caller 'checkout_api' (checkout/checkout-api) may not read any feature view; "
        "add it to spec.readers of each feature view it needs"
    )
    assert policy.denial_of_all(policy.identify(Principal("x", "y")), Action.PUSH) == (
        "service account x/y is not a Caller in the specs, so it may not push to any source; "
        "define a Caller for it and add that caller to spec.writers of each push source it needs"
    )
