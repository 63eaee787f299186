"""Runs a plan: the working tree's specs checked, the base checked out, both rendered.

The renders run in one ``python -m infra.render`` subprocess of the working tree, which
loads the provider SDKs once and renders each (tree, stack) in a forked child with that
tree's own code. Progress (checkout, each finished render) goes to a callback; the CLI
prints it on stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mlplat.errors import MlplatError, UsageError
from mlplat.plan.resources import Plan, RenderedResource, diff, load_render
from mlplat.plan.spec_changes import SpecChange, base_documents, documents, head_catalog, spec_changes

Progress = Callable[[str], None]


class PlanError(MlplatError):
    """A render failed or the base ref cannot be checked out."""

    exit_code = 1


@dataclass(frozen=True)
class PlanReport:
    """Everything ``mlplat plan`` shows: the spec changes, then one plan per stack."""

    base: str
    spec_changes: tuple[SpecChange, ...]
    plans: tuple[Plan, ...]


def _quiet(message: str) -> None:
    """The default progress callback: says nothing."""


def render_trees(
    repo: Path,
    trees: dict[str, Path],
    stacks: Sequence[str],
    progress: Progress = _quiet,
    *,
    names: dict[str, str] | None = None,
    timeout: float = 900,
) -> dict[tuple[str, str], list[RenderedResource]]:
    """Every stack of every tree (label -> checkout), rendered by ``repo``'s ``infra.render``.

    Labels name the output files (letters only); ``names`` says them to people in progress.
    """
    for label, tree in trees.items():
        if not (tree / "infra" / "render.py").is_file():
            raise PlanError(
                f"{label} ({tree}) has no infra/render.py; it is older than `mlplat plan`, pick a newer --base"
            )
    with tempfile.TemporaryDirectory(prefix="mlplat-render-") as out:
        command = [sys.executable, "-m", "infra.render", "--output-dir", out]
        command += [f"--stack={stack}" for stack in stacks]
        command += [f"--tree={label}={tree}" for label, tree in trees.items()]
        environment = {**os.environ, "PYTHONPATH": str(repo)}
        _run_renders(command, repo, environment, progress, names or {}, timeout)
        return {
            (label, stack): load_render(json.loads((Path(out) / f"{label}-{stack}.json").read_text()))
            for label in trees
            for stack in stacks
        }


def _run_renders(
    command: list[str],
    repo: Path,
    environment: dict[str, str],
    progress: Progress,
    names: dict[str, str],
    timeout: float,
) -> None:
    with (
        tempfile.TemporaryFile(mode="w+") as errors,
        subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command, cwd=repo, env=environment, stdout=subprocess.PIPE, stderr=errors, text=True
        ) as process,
    ):
        assert process.stdout is not None
        deadline = time.monotonic() + timeout
        for line in process.stdout:
            event = json.loads(line)
            state = "rendered" if event["ok"] else "FAILED to render"
            progress(
                f"{state} {event['stack']} at {names.get(event['tree'], event['tree'])} in {event['seconds']:.1f}s"
            )
        code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
        if code != 0:
            errors.seek(0)
            tail = "\n".join(errors.read().strip().splitlines()[-20:])
            raise PlanError(f"rendering failed:\n{tail}")


@contextmanager
def checkout(repo: Path, ref: str) -> Iterator[Path]:
    """A temporary detached worktree of ``repo`` at ``ref``, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="mlplat-plan-") as parent:
        tree = Path(parent) / "base"
        added = _git(repo, "worktree", "add", "--detach", "--quiet", str(tree), ref)
        if added.returncode != 0:
            raise UsageError(f"cannot check out --base {ref!r}: {added.stderr.strip()}")
        try:
            yield tree
        finally:
            _git(repo, "worktree", "remove", "--force", str(tree))


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)  # noqa: S603, S607


def plan(
    repo: Path,
    stacks: Sequence[str],
    base: str,
    *,
    specs: Path | None = None,
    artifacts: Path | None = None,
    progress: Progress = _quiet,
) -> PlanReport:
    """What the working tree at ``repo`` changes against ``base``: in the specs, then in each stack.

    Invalid specs in the working tree raise :class:`~mlplat.catalog.SpecValidationError`
    before anything is rendered.
    """
    specs_dir = specs or repo / "specs"
    relative_specs = specs_dir.resolve().relative_to(repo.resolve()) if specs else Path("specs")
    head = documents(head_catalog(specs_dir))
    progress(f"checking out {base}")
    with checkout(repo, base) as tree:
        before = base_documents(tree / relative_specs)
        changed = spec_changes(before, head, artifacts or repo / "models")
        progress(f"rendering {', '.join(stacks)} at the working tree and at {base}")
        names = {"head": "the working tree", "base": base}
        renders = render_trees(repo, {"head": repo, "base": tree}, stacks, progress, names=names)
    plans = tuple(diff(stack, base, renders[("base", stack)], renders[("head", stack)]) for stack in stacks)
    return PlanReport(base, tuple(changed), plans)
