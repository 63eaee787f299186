"""Renders an environment's two stacks under Pulumi mocks and returns every resource they register.

Reusable outside the tests (``mlplat plan``, benchmarks). :func:`render_platform` builds
the platform stack (:func:`infra.program.build_platform`); :func:`render_workloads`
builds the workloads stack (:func:`infra.workloads_program.build_workloads`) with its
``StackReference`` answered by the platform render's outputs, as ``pulumi up`` of the
second stack reads the first's. :func:`render` does both, in deploy order. Each returns
plain data: type, logical name, project, inputs (secrets still wrapped, so a caller can
tell them apart), ``protect``, and the resolved stack outputs.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import rpc, settings

from infra.bootstrap import BootstrapConfig, build_bootstrap
from infra.config import StackConfig, load_stack_file
from infra.policy.baseline import Violation, violations
from infra.program import build_platform
from infra.workloads_program import build_workloads
from mlplat.catalog import Catalog

REPO = Path(__file__).resolve().parents[1]
ACCOUNT_ID = "123456789012"
STACKS = ("dev", "staging", "prod")
#: The two Pulumi projects of an environment, in deploy order.
PLATFORM_PROJECT = "mlplat"
WORKLOADS_PROJECT = "mlplat-workloads"
#: The account's one-time project: the deploy identities and the Pulumi state.
BOOTSTRAP_PROJECT = "mlplat-bootstrap"
#: The role the mocks run as (what ``aws sts get-caller-identity`` would answer in CI).
DEPLOY_ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/mlplat-deploy"
STACK_REFERENCE = "pulumi:pulumi:StackReference"


def platform_stack_name(stack: str) -> str:
    """The fully qualified platform stack a workloads stack references (a DIY backend's ``organization``)."""
    return f"organization/{PLATFORM_PROJECT}/{stack}"


@dataclass(frozen=True)
class Captured:
    """One registered resource as the engine would see it."""

    type: str
    name: str
    inputs: dict[str, Any]
    """Inputs with secret values still wrapped (see :func:`is_secret`)."""
    protect: bool
    parent_type: str | None
    taggable: bool
    """Whether the resource type takes ``tags``."""
    depends_on: tuple[str, ...] = ()
    """Logical names of the resources in its ``depends_on`` option."""
    project: str = PLATFORM_PROJECT
    """Which stack of the environment declares it: the platform (AWS) or the workloads (Kubernetes)."""
    ignore_changes: tuple[str, ...] = ()

    @property
    def plain(self) -> dict[str, Any]:
        """Inputs with secrets unwrapped."""
        plain: dict[str, Any] = unwrap(self.inputs)
        return plain

    @property
    def custom(self) -> bool:
        return not self.type.startswith("mlplat:")


@dataclass
class Rendered:
    """Every resource and output of one rendered stack (or of both, see :func:`render`)."""

    resources: list[Captured]
    outputs: dict[str, Any]
    """The platform stack's outputs."""
    secret_values: list[str] = field(default_factory=list)
    """Values the mocks generated for secret outputs (random passwords)."""
    workload_outputs: dict[str, Any] = field(default_factory=dict)
    """The workloads stack's outputs."""
    stack_references: dict[str, str] = field(default_factory=dict)
    """Logical name -> referenced stack of each ``StackReference`` the program read."""

    def of_project(self, project: str) -> list[Captured]:
        return [r for r in self.resources if r.project == project]

    def of_type(self, type_: str) -> list[Captured]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str) -> Captured:
        found = [r for r in self.resources if r.type == type_ and r.name == name]
        assert len(found) == 1, (
            f"{type_} {name}: found {len(found)}; names of that type: {[r.name for r in self.of_type(type_)]}"
        )
        return found[0]

    def by_key(self) -> dict[tuple[str, str], Captured]:
        return {(r.type, r.name): r for r in self.resources}


def is_secret(value: Any) -> bool:
    return rpc.is_rpc_secret(value)


def unwrap(value: Any) -> Any:
    if is_secret(value):
        return unwrap(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def plain_strings(value: Any) -> Iterator[str]:
    """Every string in ``value`` that is not inside a secret."""
    if is_secret(value):
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from plain_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from plain_strings(item)


class _Mocks(pulumi.runtime.Mocks):
    def __init__(self, region: str, stack_outputs: dict[str, dict[str, Any]] | None = None) -> None:
        self.region = region
        self.registrations: list[pulumi.runtime.MockResourceArgs] = []
        self.secret_values: list[str] = []
        self.stack_outputs = stack_outputs or {}
        """Referenced stack name -> its outputs, answered to ``StackReference``."""
        self.stack_references: dict[str, str] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        if args.typ == STACK_REFERENCE:
            return self._stack_reference(args)
        self.registrations.append(args)
        return f"{args.name}-id", {**args.inputs, **self._computed(args)}

    def _stack_reference(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        name = str(args.inputs.get("name", args.name))
        if name not in self.stack_outputs:
            raise ValueError(
                f"stack reference {name!r}: no rendered stack of that name; rendered: {list(self.stack_outputs)}"
            )
        self.stack_references[args.name] = name
        return name, {"name": name, "outputs": self.stack_outputs[name], "secretOutputNames": []}

    def _computed(self, args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
        service = args.typ.split(":")[1].split("/")[0]
        arn = f"arn:aws:{service}:{self.region}:{ACCOUNT_ID}:{args.name}"
        outputs: dict[str, Any] = {"arn": arn}
        if args.typ == "random:index/randomPassword:RandomPassword":
            secret = "MOCK-SECRET-" + hashlib.sha256(args.name.encode()).hexdigest()[:24]
            self.secret_values.append(secret)
            outputs["result"] = rpc.wrap_rpc_secret(secret)
        elif args.typ == "random:index/randomId:RandomId":
            outputs["hex"] = hashlib.sha256(args.name.encode()).hexdigest()[: 2 * int(args.inputs["byteLength"])]
        elif args.typ == "aws:eks/cluster:Cluster":
            outputs["endpoint"] = f"https://{args.name}.eks.example"
            outputs["certificateAuthority"] = {"data": "Q0EtREFUQQ=="}
            outputs["vpcConfig"] = {**args.inputs.get("vpcConfig", {}), "clusterSecurityGroupId": "sg-cluster"}
            issuer_id = hashlib.sha256(args.name.encode()).hexdigest()[:32].upper()
            outputs["identities"] = [
                {"oidcs": [{"issuer": f"https://oidc.eks.{self.region}.amazonaws.com/id/{issuer_id}"}]}
            ]
            outputs["kubernetesNetworkConfig"] = {"ipFamily": "ipv4", "serviceIpv4Cidr": "172.20.0.0/16"}
        elif args.typ == "aws:rds/instance:Instance":
            outputs["endpoint"] = f"{args.inputs.get('identifier')}.rds.example:3306"
            outputs["address"] = f"{args.inputs.get('identifier')}.rds.example"
            outputs["masterUserSecrets"] = [
                {"secretArn": f"arn:aws:secretsmanager:{self.region}:{ACCOUNT_ID}:secret:rds"}
            ]
        elif args.typ == "aws:elasticache/replicationGroup:ReplicationGroup":
            outputs["primaryEndpointAddress"] = f"master.{args.inputs.get('replicationGroupId')}.cache.example"
        elif args.typ == "aws:kms/key:Key":
            outputs["keyId"] = f"{args.name}-key-id"
        elif args.typ == "aws:ec2/launchTemplate:LaunchTemplate":
            outputs["latestVersion"] = 1
        elif args.typ == "aws:ecr/repository:Repository":
            outputs["repositoryUrl"] = f"{ACCOUNT_ID}.dkr.ecr.{self.region}.amazonaws.com/{args.inputs.get('name')}"
        elif args.typ == "aws:iam/role:Role":
            outputs["name"] = args.inputs.get("name", args.name)
        elif args.typ == "aws:amp/scraper:Scraper":
            # The service-linked role AMP creates for the scraper, as DescribeScraper reports it.
            path = "aws-service-role/scraper.aps.amazonaws.com"
            outputs["roleArn"] = (
                f"arn:aws:iam::{ACCOUNT_ID}:role/{path}/AWSServiceRoleForAmazonPrometheusScraper_{args.name}"
            )
        elif args.typ == "aws:amp/workspace:Workspace":
            outputs["prometheusEndpoint"] = (
                f"https://aps-workspaces.{self.region}.amazonaws.com/workspaces/{args.name}/"
            )
        elif args.typ == "aws:ec2/vpcEndpoint:VpcEndpoint":
            service = str(args.inputs.get("serviceName", "")).rsplit(".", 1)[-1]
            dns = f"*.vpce-{args.name}.{service}.{self.region}.vpce.amazonaws.com"
            outputs["dnsEntries"] = [{"dnsName": dns, "hostedZoneId": "ZVPCE"}]
        return outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":  # noqa: S105 - a function token
            arn = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/mlplat-deploy/ci"
            return {"accountId": ACCOUNT_ID, "arn": arn, "userId": "AROA:ci", "id": ACCOUNT_ID}
        if args.token == "aws:index/getPartition:getPartition":  # noqa: S105 - a function token
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
        if args.token == "aws:iam/getSessionContext:getSessionContext":  # noqa: S105 - a function token
            arn = str(args.args.get("arn"))
            return {"arn": arn, "issuerArn": DEPLOY_ROLE_ARN, "issuerName": "mlplat-deploy", "id": arn}
        raise NotImplementedError(f"the mocks do not answer {args.token}")


def stack_config(stack: str, repo: Path = REPO) -> StackConfig:
    """The config committed in ``repo``'s ``Pulumi.<stack>.yaml``."""
    return load_stack_file(repo / f"Pulumi.{stack}.yaml")


def render(catalog: Catalog, config: StackConfig) -> Rendered:
    """Both stacks of the environment, in deploy order: the platform, then the workloads fed its outputs."""
    platform = render_platform(catalog, config)
    workloads = render_workloads(catalog, config, platform)
    return Rendered(
        resources=[*platform.resources, *workloads.resources],
        outputs=platform.outputs,
        secret_values=[*platform.secret_values, *workloads.secret_values],
        workload_outputs=workloads.workload_outputs,
        stack_references=workloads.stack_references,
    )


def render_platform(catalog: Catalog, config: StackConfig) -> Rendered:
    """The platform stack (AWS) under mocks."""
    mocks = _Mocks(config.region)

    def program() -> dict[str, Any]:
        return build_platform(catalog, config).outputs

    resources, outputs = _run(mocks, PLATFORM_PROJECT, config.environment, program)
    return Rendered(resources=resources, outputs=outputs, secret_values=mocks.secret_values)


def render_workloads(catalog: Catalog, config: StackConfig, platform: Rendered) -> Rendered:
    """The workloads stack (Kubernetes) under mocks, its ``StackReference`` answered by ``platform``'s outputs."""
    referenced = platform_stack_name(config.environment)
    mocks = _Mocks(config.region, {referenced: platform.outputs})

    def program() -> dict[str, Any]:
        return build_workloads(catalog, config, referenced).outputs

    resources, outputs = _run(mocks, WORKLOADS_PROJECT, config.environment, program)
    return Rendered(
        resources=resources,
        outputs={},
        secret_values=mocks.secret_values,
        workload_outputs=outputs,
        stack_references=mocks.stack_references,
    )


def render_bootstrap(config: BootstrapConfig) -> Rendered:
    """The account's bootstrap stack under mocks."""
    mocks = _Mocks(config.region)

    def program() -> dict[str, Any]:
        return build_bootstrap(config).outputs

    resources, outputs = _run(mocks, BOOTSTRAP_PROJECT, "account", program)
    return Rendered(resources=resources, outputs=outputs, secret_values=mocks.secret_values)


def _run(
    mocks: _Mocks, project: str, stack: str, build: Callable[[], dict[str, Any]]
) -> tuple[list[Captured], dict[str, Any]]:
    _ensure_event_loop()
    # A fresh root stack per render: set_mocks keeps an existing one, and with it every
    # earlier render's transformation (and the resources those still hold).
    settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False)
    created: list[pulumi.Resource] = []
    ignored: dict[tuple[str, str], tuple[str, ...]] = {}
    dependencies: dict[tuple[str, str], tuple[str, ...]] = {}

    def record(args: pulumi.ResourceTransformationArgs) -> None:
        created.append(args.resource)
        ignored[(args.type_, args.name)] = tuple(args.opts.ignore_changes or ())
        depends_on = args.opts.depends_on if isinstance(args.opts.depends_on, list) else []
        dependencies[(args.type_, args.name)] = tuple(d._name for d in depends_on if isinstance(d, pulumi.Resource))

    pulumi.runtime.register_stack_transformation(record)
    outputs: dict[str, Any] = {}

    def program() -> pulumi.Output[Any]:
        return pulumi.Output.from_input(build()).apply(outputs.update)

    pulumi.runtime.test(program)()  # type: ignore[no-untyped-call]
    protect = {(_type_of(r), r._name): bool(r._protect) for r in created}
    parents = {(_type_of(r), r._name): _parent_type(r) for r in created}
    taggable = {(_type_of(r), r._name): _takes_tags(r) for r in created}
    resources = [
        Captured(
            type=a.typ,
            name=a.name,
            inputs=a.inputs,
            protect=protect.get((a.typ, a.name), False),
            parent_type=parents.get((a.typ, a.name)),
            taggable=taggable.get((a.typ, a.name), False),
            ignore_changes=ignored.get((a.typ, a.name), ()),
            depends_on=dependencies.get((a.typ, a.name), ()),
            project=project,
        )
        for a in mocks.registrations
    ]
    return resources, outputs


def _ensure_event_loop() -> None:
    """Give Pulumi's runtime a loop: it asks for the current one, which ``asyncio.run`` elsewhere
    in the same process (a server, a test) leaves closed or unset."""
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        loop = None
    if loop is None or loop.is_closed():
        asyncio.set_event_loop(asyncio.new_event_loop())


def _takes_tags(resource: pulumi.Resource) -> bool:
    init = getattr(type(resource), "_internal_init", None)
    return init is not None and "tags" in inspect.signature(init).parameters


def _type_of(resource: pulumi.Resource) -> str:
    return str(resource._type) if hasattr(resource, "_type") else type(resource).__name__


def _parent_type(resource: pulumi.Resource) -> str | None:
    parent = getattr(resource, "_parent", None)
    return _type_of(parent) if parent is not None else None


def policy_violations(rendered: Rendered) -> list[Violation]:
    """The policy pack's rules run on every captured resource."""
    return [
        violation
        for resource in rendered.resources
        if resource.custom
        for violation in violations(resource.type, resource.name, resource.plain, protect=resource.protect)
    ]


@dataclass(frozen=True)
class RenderDiff:
    """What a change of specs or config does to a stack, resource by resource."""

    added: list[Captured]
    removed: list[Captured]
    changed: list[tuple[Captured, Captured]]
    """``(before, after)`` pairs whose inputs or ``protect`` differ."""

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def comparable(value: Any) -> Any:
    """``value`` with file assets replaced by their path: assets do not compare by content or path."""
    if isinstance(value, pulumi.FileAsset):
        return ("FileAsset", value.path)
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    return value


def diff(before: Rendered, after: Rendered) -> RenderDiff:
    """Resources added, removed and changed between two renders, keyed by type and logical name."""
    old, new = before.by_key(), after.by_key()
    return RenderDiff(
        added=[new[key] for key in new if key not in old],
        removed=[old[key] for key in old if key not in new],
        changed=[
            (old[key], new[key])
            for key in old
            if key in new
            and (comparable(old[key].inputs) != comparable(new[key].inputs) or old[key].protect != new[key].protect)
        ],
    )
