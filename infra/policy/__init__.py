"""The mlplat security baseline as a Pulumi policy pack (``pulumi preview --policy-pack infra/policy``)."""
