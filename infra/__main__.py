"""The platform stack's program (project ``mlplat``): reads specs/ and the stack's config, provisions AWS.

The workloads stack (``infra/stacks/workloads``) deploys the Kubernetes objects onto the
cluster this stack makes; see docs/infra.md for the order.
"""

import sys
from pathlib import Path

import pulumi

# `pulumi up` runs this file with infra/ first on sys.path; the repository root makes the
# `infra` and `mlplat` packages importable even where `make` has not installed them.
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(1, str(REPO))

from infra.program import build_platform, stack_config_from_pulumi  # noqa: E402
from mlplat.loader import load_catalog  # noqa: E402

catalog = load_catalog(REPO / "specs")
platform = build_platform(catalog, stack_config_from_pulumi())
for key, value in platform.outputs.items():
    pulumi.export(key, value)
