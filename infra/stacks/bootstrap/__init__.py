"""The bootstrap project (``mlplat-bootstrap``): the deploy identities and the Pulumi state, once per account."""
