"""Runs a plan: the working tree's specs checked, the base checked out, both rendered.

The renders run in one ``python -m infra.render`` subprocess of the working tree, which
loads the provider SDKs once and renders each (tree, stack) in a forked child with that
tree's own code. Progress (checkout, each finished render) goes to a callback; the CLI
prints it on stderr.
"""

from __future__ import annotations

import hashlib
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
from typing import Any

from mlplat.diagnostics import did_you_mean
from mlplat.errors import MlplatError, UsageError
from mlplat.plan.resources import Plan, diff, load_render
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
    same_code: Sequence[str] = (),
    timeout: float = 900,
) -> dict[tuple[str, str], dict[str, Any]]:
    """Every stack of every tree (label -> checkout), rendered by ``repo``'s ``infra.render``, as its JSON.

    Labels name the output files (letters only); ``names`` says them to people in progress;
    trees labelled in ``same_code`` hold the working tree's code and are rendered with it.
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
        command += [f"--same-code={label}" for label in same_code if label in trees]
        environment = {**os.environ, "PYTHONPATH": str(repo)}
        _run_renders(command, repo, environment, progress, names or {}, timeout)
        return {
            (label, stack): json.loads((Path(out) / f"{label}-{stack}.json").read_text())
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


class RenderCache:
    """Renders of committed trees by commit and stack: planning against one base twice renders it once.

    A commit fixes the base's code, specs and stack files; the key also covers the
    interpreter and the pinned requirements, which the render runs on.
    """

    def __init__(self, directory: Path, repo: Path) -> None:
        self.directory = directory
        lock = repo / "requirements.txt"
        environment = sys.version + (lock.read_text() if lock.is_file() else "")
        self.salt = hashlib.sha256(environment.encode()).hexdigest()[:16]

    def _path(self, commit: str, stack: str) -> Path:
        return self.directory / f"{commit}-{stack}-{self.salt}.json"

    def get(self, commit: str, stack: str) -> dict[str, Any] | None:
        path = self._path(commit, stack)
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return data

    def put(self, commit: str, stack: str, data: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(commit, stack)
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(data, sort_keys=True))
        partial.replace(path)


#: What a render runs besides the specs and stack files: equal digests, equal code.
_CODE = ("infra", "mlplat", "services")


def code_digest(tree: Path) -> str:
    """sha256 over the Python files of ``tree``'s code (paths and contents)."""
    digest = hashlib.sha256()
    for package in _CODE:
        for path in sorted((tree / package).rglob("*.py")):
            digest.update(str(path.relative_to(tree)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _stacks_of(repo: Path) -> list[str]:
    """The stacks of the repository at ``repo``: one ``Pulumi.<stack>.yaml`` each."""
    known = sorted(path.name.removeprefix("Pulumi.").removesuffix(".yaml") for path in repo.glob("Pulumi.*.yaml"))
    if not known:
        raise UsageError(f"{repo} has no Pulumi.<stack>.yaml: run mlplat plan at the repository root, or pass --repo")
    return known


def _check_stacks(repo: Path, stacks: Sequence[str], known: Sequence[str]) -> None:
    """Each stack must have its ``Pulumi.<stack>.yaml``: said before any checkout or render starts."""
    for stack in stacks:
        if stack not in known:
            raise UsageError(
                f"--stack {stack!r} has no Pulumi.{stack}.yaml in {repo}; stacks: {', '.join(known)}"
                + did_you_mean(stack, known)
            )


def _commit(repo: Path, ref: str) -> str:
    found = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if found.returncode != 0:
        raise UsageError(f"cannot check out --base {ref!r}: it names no commit of {repo}")
    return found.stdout.strip()


def _renders(
    repo: Path, tree: Path, stacks: Sequence[str], commit: str, cache: RenderCache | None, progress: Progress, base: str
) -> dict[tuple[str, str], dict[str, Any]]:
    cached = {stack: cache.get(commit, stack) if cache else None for stack in stacks}
    trees = {"head": repo} if all(cached.values()) else {"head": repo, "base": tree}
    where = "the working tree" if len(trees) == 1 else f"the working tree and at {base}"
    reused = f" ({base} from the cache of {commit[:12]})" if len(trees) == 1 else ""
    progress(f"rendering {', '.join(stacks)} at {where}{reused}")
    names = {"head": "the working tree", "base": base}
    same = ("base",) if code_digest(tree) == code_digest(repo) else ()
    renders = render_trees(repo, trees, stacks, progress, names=names, same_code=same)
    for stack, data in cached.items():
        if data is not None and ("base", stack) not in renders:
            renders[("base", stack)] = data
        elif cache is not None:
            cache.put(commit, stack, renders[("base", stack)])
    return renders


def plan(
    repo: Path,
    stacks: Sequence[str],
    base: str,
    *,
    specs: Path | None = None,
    artifacts: Path | None = None,
    progress: Progress = _quiet,
    cache: bool = True,
) -> PlanReport:
    """What the working tree at ``repo`` changes against ``base``: in the specs, then in each stack.

    Invalid specs in the working tree raise :class:`~mlplat.catalog.SpecValidationError`
    before anything is rendered. With ``cache``, renders of the base commit are kept in
    ``.mlplat/plan-cache`` and reused.
    """
    known = _stacks_of(repo)
    specs_dir = specs or repo / "specs"
    relative_specs = specs_dir.resolve().relative_to(repo.resolve()) if specs else Path("specs")
    head = documents(head_catalog(specs_dir))
    _check_stacks(repo, stacks, known)
    commit = _commit(repo, base)
    renders_cache = RenderCache(repo / ".mlplat" / "plan-cache", repo) if cache else None
    progress(f"checking out {base} ({commit[:12]})")
    with checkout(repo, commit) as tree:
        before = base_documents(tree / relative_specs)
        changed = spec_changes(before, head, artifacts or repo / "models")
        renders = _renders(repo, tree, stacks, commit, renders_cache, progress, base)
    plans = tuple(
        diff(stack, base, load_render(renders[("base", stack)]), load_render(renders[("head", stack)]))
        for stack in stacks
    )
    return PlanReport(base, tuple(changed), plans)
