"""``python -m infra.render --stack prod --output FILE``: an environment rendered under mocks, as JSON.

Both stacks of the environment, in deploy order: the platform stack (AWS), then the
workloads stack (Kubernetes) fed the platform's outputs; each resource names its project.
``mlplat plan`` runs this in a subprocess, once with the working tree's code and once
with the base ref's, and compares the two files. Secret inputs are written as
``"[secret]"``: the plan shows that a secret changed, never its value.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import pulumi

from infra.rendering import PLATFORM_PROJECT, REPO, STACKS, WORKLOADS_PROJECT, is_secret, render, stack_config
from mlplat.loader import load_catalog

SECRET = "[secret]"  # noqa: S105 - the placeholder written instead of a secret


def _masked(value: Any, repo: Path) -> Any:
    if is_secret(value):
        return SECRET
    if isinstance(value, pulumi.FileAsset):
        # Identified by content, so a plan shows a changed job script but not a moved checkout.
        path = Path(str(value.path))
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
        return {"fileAsset": os.path.relpath(path, repo), "sha256": digest}
    if isinstance(value, dict):
        return {key: _masked(item, repo) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item, repo) for item in value]
    return value


def render_json(stack: str, repo: Path = REPO) -> dict[str, Any]:
    """The render of ``stack``'s two stacks from ``repo``'s specs and stack file, secrets masked."""
    rendered = render(load_catalog(repo / "specs"), stack_config(stack))
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.render", description=__doc__)
    parser.add_argument("--stack", required=True, choices=STACKS)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)
    args.output.write_text(json.dumps(render_json(args.stack), sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
