"""The Pulumi program: reads specs/ and the stack's config, provisions the platform."""

from pathlib import Path

import pulumi

from mlplat.loader import load_catalog

catalog = load_catalog(Path(__file__).resolve().parent.parent / "specs")
pulumi.export("catalogDigest", catalog.digest)
