"""What every mlplat component shares: its type token, child naming and child options."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

TYPE_PREFIX = "mlplat:infra:"


class Component(pulumi.ComponentResource):
    """A component whose children are named ``<name>-<suffix>`` and parented to it."""

    def __init__(self, kind: str, name: str, tags: Mapping[str, str], opts: pulumi.ResourceOptions | None) -> None:
        super().__init__(f"{TYPE_PREFIX}{kind}", name, None, opts)
        self.name = name
        self.tags = dict(tags)

    def child_name(self, suffix: str) -> str:
        """The logical name of a child: stable, so URNs never change between runs."""
        return f"{self.name}-{suffix}"

    def child_opts(self, *, protect: bool = False, **kwargs: object) -> pulumi.ResourceOptions:
        """Options of a child: parented to this component; ``protect`` for stateful resources."""
        return pulumi.ResourceOptions(parent=self, protect=protect, **kwargs)  # type: ignore[arg-type]
