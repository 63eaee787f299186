"""The mlplat security baseline as a Pulumi policy pack.

    pulumi preview --stack prod --policy-pack infra/policy

Every rule is mandatory: a violation blocks the update. The checks themselves live in
:mod:`infra.policy.baseline`, where the infra tests run them on mocked stacks too.
"""

import sys
from pathlib import Path

from pulumi_policy import EnforcementLevel, PolicyPack

# The pack runs from infra/policy/; the repository root makes `infra` importable.
sys.path.insert(1, str(Path(__file__).resolve().parents[2]))

from infra.policy.pack import PACK_NAME, policies

PolicyPack(name=PACK_NAME, enforcement_level=EnforcementLevel.MANDATORY, policies=policies())
