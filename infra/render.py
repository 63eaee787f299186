"""``python -m infra.render``: environments rendered under mocks, as JSON, for ``mlplat plan``.

An environment is both its stacks, in deploy order: the platform stack (AWS), then the
workloads stack (Kubernetes) fed the platform's outputs; each resource names its project.

One render per (tree, stack): ``--tree head=. --tree base=/tmp/base --stack prod
--output-dir DIR`` writes ``DIR/<tree>-<stack>.json`` for each pair. Every tree is
rendered with its own code. The provider SDKs (most of a render's time goes to importing
them) are loaded once; each render then runs in a forked child, in parallel, and a line
of JSON on stdout reports each finished one. ``--stack dev --output FILE`` renders the
working tree alone.

Secret inputs are written as ``"[secret]"``: the plan shows that a secret changed, never
its value.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi

from infra.deploy_access import deploy_rights_problems
from infra.limits import resource_limit_problems, role_policy_problems
from infra.naming import resource_name_problems
from infra.rendering import (
    PLATFORM_PROJECT,
    REPO,
    STACKS,
    WORKLOADS_PROJECT,
    Captured,
    is_secret,
    render,
    stack_config,
)
from mlplat.loader import load_catalog
from mlplat.plan.replacements import REPLACEMENTS

SECRET = "[secret]"  # noqa: S105 - the placeholder written instead of a secret
#: Packages whose modules belong to a tree, re-imported from each tree's own checkout.
_TREE_PACKAGES = ("infra", "mlplat", "services")


def _masked(value: Any, repo: Path) -> Any:
    if is_secret(value):
        return SECRET
    if isinstance(value, pulumi.FileAsset):
        # Identified by content, so a plan shows a changed job script but not a moved checkout.
        path = Path(str(value.path))
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
        # Relative to the checkout holding the code: a base rendered with the working tree's
        # code (same code, other specs) points at the working tree's copy of the file.
        root = REPO if path.resolve().is_relative_to(REPO) else repo
        return {"fileAsset": os.path.relpath(path, root), "sha256": digest}
    if isinstance(value, dict):
        return {key: _masked(item, repo) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item, repo) for item in value]
    return value


class RenderRefusedError(ValueError):
    """A rendered resource that AWS or Kubernetes would refuse (a name, a size, a tag)."""


def refusals(resources: Sequence[Captured]) -> list[str]:
    """What the APIs would refuse of ``resources``: the render-time checks of names and of limits, and what
    the deploy role the bootstrap stack made could not do."""
    stack = [(r.type, r.name, r.plain) for r in resources]
    platform = [(r.type, r.name, r.plain) for r in resources if _platform(r)]
    return [
        problem
        for r in resources
        for problem in (
            *resource_name_problems(r.type, r.name, r.plain),
            *resource_limit_problems(r.type, r.name, r.plain),
        )
    ] + [*role_policy_problems(stack), *deploy_rights_problems(platform)]


def _platform(resource: Captured) -> bool:
    """Whether ``resource`` is the platform stack's, which the environment's deploy role runs."""
    return resource.project == PLATFORM_PROJECT


def render_json(stack: str, repo: Path = REPO) -> dict[str, Any]:
    """The render of ``stack``'s two stacks from ``repo``'s specs and stack file, secrets masked.

    :class:`RenderRefusedError` if the APIs would refuse a rendered resource: what ``mlplat
    validate`` lets through must fit, so this names a gap between the two.
    """
    rendered = render(load_catalog(repo / "specs"), stack_config(stack, repo))
    refused = refusals(rendered.resources)
    if refused:
        raise RenderRefusedError(f"{stack}: the APIs would refuse:\n" + "\n".join(f"  - {p}" for p in refused))
    resources = [
        {
            "type": r.type,
            "name": r.name,
            "project": r.project,
            "inputs": _masked(r.inputs, repo),
            "protect": r.protect,
        }
        for r in rendered.resources
        if r.custom
    ]
    return {"stack": stack, "projects": [PLATFORM_PROJECT, WORKLOADS_PROJECT], "resources": resources}


@dataclass(frozen=True)
class Job:
    """One render: a stack of the checkout at ``tree``, written to ``output``."""

    label: str
    tree: Path
    stack: str
    output: Path
    own_code: bool = True
    """False when the tree's code is the working tree's: it is rendered with the loaded modules."""


def preload_providers() -> None:
    """Import the class of every resource type the program creates, once, before forking."""
    for token in REPLACEMENTS:
        package, module, name = token.split(":")
        if package == "aws":
            path = f"pulumi_aws.{module.split('/')[0]}"
        elif package == "kubernetes":
            group, version = module.split("/")
            path = f"pulumi_kubernetes.{group.split('.')[0]}.{version}"
        elif package == "random":
            path = "pulumi_random"
        else:
            path, name = "pulumi_kubernetes", "Provider"
        getattr(importlib.import_module(path), name)


def _use_tree(tree: Path, own_code: bool) -> Any:
    """The ``infra.render`` module of ``tree``: this one, or the checkout's own code."""
    if tree.resolve() == REPO or not own_code:
        return sys.modules[__name__]
    for name in [m for m in sys.modules if m.split(".")[0] in _TREE_PACKAGES]:
        del sys.modules[name]
    sys.path[:] = [str(tree), *(p for p in sys.path if Path(p or ".").resolve() != REPO)]
    importlib.invalidate_caches()
    return importlib.import_module("infra.render")


def _run(job: Job) -> None:
    module = _use_tree(job.tree, job.own_code)
    data = module.render_json(job.stack, job.tree)
    job.output.write_text(json.dumps(data, sort_keys=True, default=str))


def _child(job: Job) -> int:
    try:
        _run(job)
    except BaseException as error:  # a child reports every failure through its exit code
        where = f"rendering {job.stack} of {job.label} ({job.tree})"
        # A refusal names every refused resource; a traceback adds nothing. By name: a tree
        # rendered with its own code raises its own copy of the class.
        if type(error).__name__ == RenderRefusedError.__name__:
            sys.stderr.write(f"{where} refused: {error}\n")
        else:
            sys.stderr.write(f"{where} failed:\n{traceback.format_exc()}")
        sys.stderr.flush()
        return 1
    return 0


def run_jobs(jobs: Sequence[Job], parallel: int) -> Iterator[tuple[Job, bool, float]]:
    """Run ``jobs`` in forked children, ``parallel`` at a time; yield each as it ends."""
    pending, running = list(jobs), dict[int, tuple[Job, float]]()
    while pending or running:
        while pending and len(running) < parallel:
            job = pending.pop(0)
            pid = os.fork()
            if pid == 0:  # the child
                os._exit(_child(job))
            running[pid] = (job, time.perf_counter())
        pid, status = os.wait()
        job, started = running.pop(pid)
        yield job, os.waitstatus_to_exitcode(status) == 0, time.perf_counter() - started


def _parse_trees(values: Sequence[str]) -> list[tuple[str, Path]]:
    trees = []
    for value in values:
        label, sep, path = value.partition("=")
        if not sep or not label or not path:
            raise SystemExit(f"--tree {value!r}: write LABEL=PATH, e.g. head=.")
        trees.append((label, Path(path).resolve()))
    return trees


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.render", description=__doc__)
    parser.add_argument("--stack", required=True, choices=STACKS, action="append")
    parser.add_argument("--output", type=Path, help="With one --stack and no --tree: the file to write.")
    parser.add_argument("--tree", action="append", default=[], help="LABEL=PATH of a checkout to render.")
    parser.add_argument("--output-dir", type=Path, help="Where LABEL-STACK.json files go (with --tree).")
    parser.add_argument(
        "--same-code", action="append", default=[], help="LABEL of a tree whose code is this one's (specs differ)."
    )
    parser.add_argument("--parallel", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    if args.output is not None:
        args.output.write_text(json.dumps(render_json(args.stack[0]), sort_keys=True, default=str))
        return 0
    if not args.tree or args.output_dir is None:
        parser.error("give --output FILE, or --tree LABEL=PATH (repeatable) and --output-dir DIR")
    jobs = [
        Job(label, tree, stack, args.output_dir / f"{label}-{stack}.json", label not in args.same_code)
        for label, tree in _parse_trees(args.tree)
        for stack in args.stack
    ]
    preload_providers()
    failed = False
    for job, ok, seconds in run_jobs(jobs, max(1, args.parallel)):
        failed |= not ok
        line = {"tree": job.label, "stack": job.stack, "ok": ok, "seconds": round(seconds, 2)}
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
