"""The mlplat security baseline as a Pulumi policy pack.

    pulumi preview --stack prod --policy-pack infra/policy

Every rule is mandatory: a violation blocks the update. The checks themselves live in
:mod:`infra.policy.baseline`, where the infra tests run them on mocked stacks too.
"""

from pulumi_policy import EnforcementLevel, PolicyPack

from infra.policy.pack import PACK_NAME, policies

PolicyPack(name=PACK_NAME, enforcement_level=EnforcementLevel.MANDATORY, policies=policies())
