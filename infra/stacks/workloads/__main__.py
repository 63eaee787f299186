"""The workloads stack's program (project ``mlplat-workloads``): the Kubernetes objects on the cluster.

Stack ``<env>`` of this project reads the platform stack named by ``platformStack`` in its
``Pulumi.<env>.yaml`` and the environment's typed config from the repository root's
``Pulumi.<env>.yaml`` (the one the platform stack was deployed with; checked by digest).
"""

import sys
from pathlib import Path

import pulumi

# `pulumi up` runs this directory with itself first on sys.path; the repository root makes
# the `infra` and `mlplat` packages importable even where `make` has not installed them.
REPO = Path(__file__).resolve().parents[3]
sys.path.insert(1, str(REPO))

from infra.config import load_stack_file  # noqa: E402
from infra.workloads_program import build_workloads  # noqa: E402
from mlplat.loader import load_catalog  # noqa: E402

config = load_stack_file(REPO / f"Pulumi.{pulumi.get_stack()}.yaml")
platform_stack = pulumi.Config().require("platformStack")
workloads = build_workloads(load_catalog(REPO / "specs"), config, platform_stack)
for key, value in workloads.outputs.items():
    pulumi.export(key, value)
