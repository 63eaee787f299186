"""The bootstrap stack's program: state bucket, secrets key, GitHub OIDC provider, deploy and preview roles."""

import sys
from pathlib import Path

import pulumi

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(1, str(REPO))

from infra.bootstrap import bootstrap_config_from_pulumi, build_bootstrap  # noqa: E402

bootstrap = build_bootstrap(bootstrap_config_from_pulumi())
for key, value in bootstrap.outputs.items():
    pulumi.export(key, value)
