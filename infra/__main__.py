"""The Pulumi program: reads specs/ and the stack's config, provisions the platform."""

from pathlib import Path

import pulumi

from infra.program import build_platform, stack_config_from_pulumi
from mlplat.loader import load_catalog

catalog = load_catalog(Path(__file__).resolve().parent.parent / "specs")
platform = build_platform(catalog, stack_config_from_pulumi())
for key, value in platform.outputs.items():
    pulumi.export(key, value)
pulumi.export("catalogDigest", catalog.digest)
