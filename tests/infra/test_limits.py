"""The render-time check of object sizes and tags, and that it measures what `mlplat validate` measures."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import infra.render
from infra.limits import (
    CONFIG_MAP,
    EMR_APPLICATION,
    IAM_ROLE,
    KMS_KEY,
    METRIC_ALARM,
    POLICY_DOCUMENTS,
    ROLE_POLICY,
    RULE_GROUPS_NAMESPACE,
    resource_limit_problems,
    role_policy_problems,
)
from infra.render import refusals
from infra.rendering import STACKS, Rendered, render, stack_config
from infra.workloads.manifests import caller_peer
from mlplat.catalog import Catalog
from mlplat.deploy_checks import (
    catalog_config_map_data,
    feature_server_catalog,
    model_server_catalog,
    slo_rules,
)
from mlplat.loader import validate_directory
from mlplat.object_limits import (
    AMP_RULE_NAMESPACE,
    ANNOTATIONS,
    CATALOG_CONFIGMAP_KEY,
    CONFIGMAP_DATA,
    KUBERNETES_OBJECT,
    configmap_data_bytes,
    object_bytes,
    text_bytes,
)
from mlplat.operations.rules import AlertPolicy, catalog_rules
from tests.spec_edits import edit_spec


@pytest.mark.parametrize("stack", STACKS)
def test_every_rendered_object_fits_its_limits(stacks: dict[str, Rendered], stack: str) -> None:
    problems = [p for r in stacks[stack].resources for p in resource_limit_problems(r.type, r.name, r.plain)]
    assert problems == []


def _config_map(data: dict[str, str], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "feature-server-catalog-0123456789", "namespace": "mlplat"}
    if annotations is not None:
        metadata["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


def _value_of(limit_bytes: int, key: str = CATALOG_CONFIGMAP_KEY) -> str:
    """A value that makes ``{key: value}`` exactly ``limit_bytes`` as the API server counts it."""
    return "x" * (limit_bytes - len(key))


@pytest.mark.parametrize(("extra", "refused"), [(0, False), (1, True)], ids=["at-the-limit", "one-byte-over"])
def test_a_config_map_over_1_mib_of_data_is_refused(extra: int, refused: bool) -> None:
    inputs = _config_map({CATALOG_CONFIGMAP_KEY: _value_of(CONFIGMAP_DATA.max_bytes + extra)})
    problems = resource_limit_problems(CONFIG_MAP, "configmap-feature-server-catalog", inputs)
    assert any("the ConfigMap's data is 1,048,577 bytes, over the 1,048,576" in p for p in problems) is refused


def test_annotations_over_256_kib_are_refused() -> None:
    inputs = _config_map({"a": "b"}, {"mlplat.dev/note": "n" * ANNOTATIONS.max_bytes})
    (problem,) = resource_limit_problems(CONFIG_MAP, "c", inputs)
    assert "the object's annotations is 262,159 bytes, over the 262,144 it may hold" in problem


def test_a_kubernetes_object_over_the_etcd_request_limit_is_refused() -> None:
    inputs = {
        "metadata": {"name": "p"},
        "spec": {"podSelector": {}, "ingress": [{"x": "y" * KUBERNETES_OBJECT.max_bytes}]},
    }
    (problem,) = resource_limit_problems("kubernetes:networking.k8s.io/v1:NetworkPolicy", "p", inputs)
    assert "over the 1,572,864 it may hold (https://etcd.io/docs/v3.5/dev-guide/limit/)" in problem


@pytest.mark.parametrize(("extra", "refused"), [(0, False), (1, True)], ids=["at-the-limit", "one-byte-over"])
def test_a_rule_groups_namespace_over_1_mb_is_refused(extra: int, refused: bool) -> None:
    inputs = {"name": "mlplat-slos", "workspaceId": "ws", "data": "#" * (AMP_RULE_NAMESPACE.max_bytes + extra)}
    problems = resource_limit_problems(RULE_GROUPS_NAMESPACE, "slo-rules", inputs)
    assert bool(problems) is refused


def test_a_tag_aws_refuses_is_refused() -> None:
    inputs = {"name": "r", "tags": {"owner": "fraud, risk", "mlplat-spec": "Model/fraud"}}
    (problem,) = resource_limit_problems("aws:iam/role:Role", "mlplat-prod-model-fraud-role", inputs)
    assert problem.startswith("aws:iam/role:Role 'mlplat-prod-model-fraud-role': tag owner='fraud, risk': a tag value")


@pytest.mark.parametrize(
    ("image", "refused"),
    [
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlplat-prod-jobs:0.1.0", False),
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlplat-prod-jobs", True),
    ],
)
def test_an_application_image_emr_serverless_refuses_is_refused(image: str, refused: bool) -> None:
    inputs = {"name": "mlplat-prod-materialize", "imageConfiguration": {"imageUri": image}}
    problems = resource_limit_problems(EMR_APPLICATION, "mlplat-prod-batch-spark", inputs)
    assert bool(problems) is refused
    assert all("imageConfiguration.imageUri" in p for p in problems)


# --- validate and the render measure the same objects alike ------------------------------------


def _workload_of(config_map: Any) -> str:
    return str(config_map.plain["metadata"]["labels"]["app.kubernetes.io/name"])


@pytest.mark.parametrize("stack", STACKS)
def test_validate_measures_each_catalog_config_map_as_rendered(
    example_catalog: Catalog, stacks: dict[str, Rendered], stack: str
) -> None:
    # Validate sizes each slice before anything renders; the rendered ConfigMaps are those very bytes.
    slices = {"feature-server": feature_server_catalog(example_catalog)}
    slices |= {f"model-{m.replace('_', '-')}": model_server_catalog(example_catalog, m) for m in example_catalog.models}
    rendered = {_workload_of(c): c.plain["data"] for c in stacks[stack].of_type(CONFIG_MAP) if "data" in c.plain}
    assert set(rendered) == set(slices)
    for workload, sliced in slices.items():
        assert configmap_data_bytes(rendered[workload]) == configmap_data_bytes(catalog_config_map_data(sliced))


@pytest.mark.parametrize("stack", STACKS)
def test_validate_measures_the_slo_rules_at_least_as_large_as_rendered(
    example_catalog: Catalog, stacks: dict[str, Rendered], stack: str
) -> None:
    (namespace,) = stacks[stack].of_type(RULE_GROUPS_NAMESPACE)
    rendered = text_bytes(namespace.plain["data"])
    # The same rules: with the stack's runbook base they are the rendered bytes exactly...
    policy = AlertPolicy(runbook_base=stack_config(stack).alerts.runbook_base_url)
    assert text_bytes(catalog_rules(example_catalog, policy).to_yaml()) == rendered
    # ...and validate, which knows no stack, counts the longest base a stack may set.
    assert text_bytes(slo_rules(example_catalog).to_yaml()) >= rendered


def _owned_by(catalog: Catalog, owner: str) -> Catalog:
    model = catalog.models["fraud"]
    renamed = model.model_copy(update={"metadata": model.metadata.model_copy(update={"owner": owner})})
    others = [o for o in catalog.objects() if o is not model]
    return Catalog([*others, renamed])


def test_an_owner_validate_refuses_is_a_tag_the_render_time_check_refuses(
    example_catalog: Catalog, repo: Path, tmp_path: Path
) -> None:
    owner = "fraud, risk"
    shutil.copytree(repo / "specs", tmp_path / "specs")
    edit_spec(tmp_path / "specs/models/fraud.yaml", "owner: fraud@bnpl.example", f"owner: {owner}")
    refused_by_validate = [d for d in validate_directory(tmp_path / "specs").errors if d.path == ("metadata", "owner")]
    assert len(refused_by_validate) == 1
    # The same owner rendered (the catalog built past validation): every resource tagged with it is refused.
    rendered = render(_owned_by(example_catalog, owner), stack_config("dev"))
    tagged = {r.name for r in rendered.resources if (r.plain.get("tags") or {}).get("owner") == owner}
    refused = {
        r.name for r in rendered.resources if any(owner in p for p in resource_limit_problems(r.type, r.name, r.plain))
    }
    assert tagged
    assert refused == tagged
    assert all("fraud" in name for name in refused)  # the model server's and its monitoring job's


@pytest.mark.parametrize("stack", STACKS)
def test_the_example_stacks_render_nothing_the_apis_refuse(stacks: dict[str, Rendered], stack: str) -> None:
    assert refusals(stacks[stack].resources) == []


def test_a_render_with_an_object_the_apis_refuse_names_it(example_catalog: Catalog) -> None:
    # What `python -m infra.render` (and so `mlplat plan`) refuses rather than print a plan that cannot deploy.
    rendered = render(_owned_by(example_catalog, "fraud, risk"), stack_config("dev"))
    refused = refusals(rendered.resources)
    assert refused
    assert all("tag owner='fraud, risk': a tag value is up to 256" in p for p in refused)


@pytest.mark.parametrize(
    ("labels", "problem"),
    [
        ({"app.kubernetes.io/name": "model-" + "m" * 57}, None),
        ({"app.kubernetes.io/name": "model-" + "m" * 58}, "label app.kubernetes.io/name='model-"),
        ({"mlplat.dev/caller": "checkout_api"}, None),
        ({"mlplat.dev/caller": "-checkout"}, "label mlplat.dev/caller='-checkout'"),
        ({"Bad_Prefix.io/x": "v"}, "label key 'Bad_Prefix.io/x'"),
    ],
)
def test_labels_the_api_server_refuses_are_refused(labels: dict[str, str], problem: str | None) -> None:
    inputs = {"metadata": {"name": "s", "labels": labels}, "spec": {"template": {"metadata": {"labels": labels}}}}
    found = resource_limit_problems("kubernetes:apps/v1:Deployment", "s", inputs)
    if problem is None:
        assert found == []
    else:
        assert len(found) == 2  # the object's and its pod template's
        assert all(problem in p for p in found)


def test_a_refused_render_reports_what_is_refused_without_a_traceback(
    example_catalog: Catalog, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rendered = render(_owned_by(example_catalog, "fraud, risk"), stack_config("dev"))
    monkeypatch.setattr(infra.render, "render", lambda catalog, config: rendered)
    job = infra.render.Job("head", infra.render.REPO, "dev", tmp_path / "head-dev.json")
    assert infra.render._child(job) == 1
    err = capsys.readouterr().err
    assert err.startswith("rendering dev of head (")
    assert ") refused: dev: the APIs would refuse:\n  - aws:" in err
    assert "Traceback" not in err
    assert not job.output.exists()


def test_a_network_policy_admits_only_callers_its_catalog_slice_carries_in_full(
    example_catalog: Catalog, stacks: dict[str, Rendered]
) -> None:
    # Why validate sizes no NetworkPolicy: its callers' peers are no larger than those callers'
    # own specs, which are in the same service's catalog slice, bounded by the 1 MiB ConfigMap
    # well before a policy could reach the 1.5 MiB of an object.
    slices = {"feature-server": feature_server_catalog(example_catalog)}
    slices |= {f"model-{m.replace('_', '-')}": model_server_catalog(example_catalog, m) for m in example_catalog.models}
    policies = stacks["prod"].of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    assert {p.plain["metadata"]["name"] for p in policies} == set(slices)
    for policy in policies:
        sliced = slices[policy.plain["metadata"]["name"]]
        peers = [p for p in policy.plain["spec"]["ingress"][0]["from"] if "podSelector" in p]
        own = {json.dumps(caller_peer(c), sort_keys=True): c for c in sliced.callers.values()}
        assert peers
        for peer in peers:
            caller = own[json.dumps(peer, sort_keys=True)]  # a caller of the slice
            assert object_bytes(peer) <= object_bytes(caller.model_dump(mode="json", by_alias=True))


# --- policies: KMS key policies, IAM trust and inline policy sizes ------------------------------


def _key_policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


ROOT_ADMINISTERS = {
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
    "Action": "kms:*",
    "Resource": "*",
}
LOGS_USE = {
    "Effect": "Allow",
    "Principal": {"Service": "logs.eu-west-1.amazonaws.com"},
    "Action": ["kms:Encrypt*", "kms:Decrypt*"],
    "Resource": "*",
}


@pytest.mark.parametrize(
    ("statements", "refused"),
    [
        ((ROOT_ADMINISTERS, LOGS_USE), False),
        (({**ROOT_ADMINISTERS, "Principal": {"AWS": "123456789012"}},), False),
        ((LOGS_USE,), True),
        (({**ROOT_ADMINISTERS, "Action": ["kms:Decrypt"]},), True),
        (({**ROOT_ADMINISTERS, "Effect": "Deny"},), True),
        (({**ROOT_ADMINISTERS, "Condition": {"Bool": {"aws:SecureTransport": "true"}}},), True),
    ],
    ids=["root-and-a-service", "account-id-principal", "no-root", "root-decrypt-only", "root-denied", "conditional"],
)
def test_a_key_policy_must_leave_the_account_root_in_control(statements: tuple[Any, ...], refused: bool) -> None:
    problems = resource_limit_problems(KMS_KEY, "mlplat-prod-data-key-key", {"policy": _key_policy(*statements)})
    assert bool(problems) is refused
    assert all("account root do kms:*" in p for p in problems)


def test_a_key_policy_over_32_kib_is_refused() -> None:
    policy = _key_policy(ROOT_ADMINISTERS, {**LOGS_USE, "Sid": "x" * 32_768})
    (problem,) = resource_limit_problems(KMS_KEY, "k", {"policy": policy})
    assert "KMS takes 32,768" in problem


def _padded(statement: dict[str, Any], characters: int) -> str:
    """A one-statement document IAM counts as ``characters`` long (white space is not counted), padded in its Sid."""
    base = json.dumps({"Version": "2012-10-17", "Statement": [{"Sid": "", **statement}]}, separators=(",", ":"))
    return base.replace('"Sid":""', '"Sid":"' + "s" * (characters - len(base)) + '"')


def _assume_role_of(characters: int) -> str:
    return _padded(
        {"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"}, "Action": "sts:AssumeRole"}, characters
    )


@pytest.mark.parametrize(("characters", "refused"), [(2048, False), (2049, True)], ids=["at-the-limit", "one-over"])
def test_a_trust_policy_over_2048_characters_is_refused(characters: int, refused: bool) -> None:
    problems = resource_limit_problems(IAM_ROLE, "r", {"assumeRolePolicy": _assume_role_of(characters)})
    assert bool(problems) is refused


def _role_policy(role: str, characters: int) -> dict[str, Any]:
    grant = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}
    return {"role": role, "policy": _padded(grant, characters)}


@pytest.mark.parametrize(("last", "refused"), [(2240, False), (2241, True)], ids=["at-the-limit", "one-over"])
def test_a_roles_inline_policies_are_limited_together(last: int, refused: bool) -> None:
    # Each policy is small; the role's total is what IAM refuses past 10,240 characters.
    policies = [(ROLE_POLICY, f"grant-{i}", _role_policy("scheduler-role", 4000)) for i in range(2)]
    policies += [
        (ROLE_POLICY, "grant-last", _role_policy("scheduler-role", last)),
        (ROLE_POLICY, "other-role-grant", _role_policy("other-role", 9000)),
    ]
    problems = role_policy_problems(policies)
    assert bool(problems) is refused
    assert all(p.startswith(f"{IAM_ROLE} 'scheduler-role': its 3 inline policies total 10,241") for p in problems)


def test_white_space_does_not_count_against_a_role() -> None:
    spaced = _role_policy("r", 10_000)
    spaced["policy"] = spaced["policy"].replace(",", ",   ")
    assert role_policy_problems([(ROLE_POLICY, "p", spaced)]) == []


@pytest.mark.parametrize("stack", STACKS)
def test_no_rendered_role_outgrows_its_inline_policy_limit(stacks: dict[str, Rendered], stack: str) -> None:
    assert role_policy_problems((r.type, r.name, r.plain) for r in stacks[stack].resources) == []


def test_a_role_over_its_limit_is_a_refusal_of_the_render(stacks: dict[str, Rendered]) -> None:
    grants = [r for r in stacks["dev"].resources if r.type == ROLE_POLICY]
    role = grants[0].plain["role"]
    crowded = [replace(grants[0], name=f"grant-{i}", inputs=_role_policy(role, 5000)) for i in range(3)]
    (problem,) = refusals([*stacks["dev"].resources, *crowded])
    assert problem.startswith(f"{IAM_ROLE} {role!r}: its ")


@pytest.mark.parametrize(("count", "refused"), [(50, False), (51, True)])
def test_more_than_50_tags_are_refused(count: int, refused: bool) -> None:
    tags = {f"key-{i}": "v" for i in range(count)}
    problems = resource_limit_problems("aws:s3/bucket:Bucket", "b", {"bucket": "b", "tags": tags})
    assert bool(problems) is refused


def test_a_grant_on_an_arn_that_was_still_empty_is_refused() -> None:
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": [""]}],
        }
    )
    (problem,) = resource_limit_problems(ROLE_POLICY, "read-secrets", {"role": "r", "policy": policy})
    assert problem.startswith(f"{ROLE_POLICY} 'read-secrets': policy: statement 0: resources [''] are neither")


@pytest.mark.parametrize("stack", STACKS)
def test_every_rendered_policy_document_follows_the_grammar(stacks: dict[str, Rendered], stack: str) -> None:
    documents = [(r.name, field) for r in stacks[stack].resources for (t, field) in POLICY_DOCUMENTS if t == r.type]
    assert len(documents) > 50
    assert [p for r in stacks[stack].resources for p in resource_limit_problems(r.type, r.name, r.plain)] == []


@pytest.mark.parametrize(
    ("namespace", "metric", "dimensions", "problem"),
    [
        ("AWS/RDS", "FreeStorageSpace", {"DBInstanceIdentifier": "db"}, None),
        ("AWS/RDS", "FreeStorageSpace", {"DbInstanceIdentifier": "db"}, "is published with dimensions"),
        ("AWS/Elasticache", "Evictions", {"CacheClusterId": "c-001"}, "is not a metric this platform knows"),
        ("AWS/EMRServerless", "FailedJobs", {"ApplicationId": "a", "JobName": "j"}, "not ['ApplicationId', 'JobName']"),
    ],
    ids=["published", "misspelt-dimension", "misspelt-namespace", "extra-dimension"],
)
def test_an_alarm_on_a_metric_nothing_publishes_is_refused(
    namespace: str, metric: str, dimensions: dict[str, str], problem: str | None
) -> None:
    inputs = {"name": "a", "namespace": namespace, "metricName": metric, "dimensions": dimensions}
    problems = resource_limit_problems(METRIC_ALARM, "a", inputs)
    if problem is None:
        assert problems == []
    else:
        (found,) = problems
        assert problem in found
