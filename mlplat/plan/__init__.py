"""``mlplat plan``: what a change of the repository does, in spec words and per stack.

* :mod:`mlplat.plan.spec_changes` — the changed spec fields (``FeatureView/x spec.ttl 7d -> 14d``).
* :mod:`mlplat.plan.resources` — per stack, resources replaced, updated, rolled, added, removed.
* :mod:`mlplat.plan.replacements` — the providers' rules for what forces a replacement.
* :mod:`mlplat.plan.report` — one report, written as text, Markdown or JSON.
* :mod:`mlplat.plan.runner` — renders the base and the working tree (``python -m infra.render``)
  in a subprocess: this package never imports Pulumi.
"""

from __future__ import annotations

from mlplat.plan.resources import Action, Plan, PropertyChange, RenderedResource, ResourceChange, diff, load_render

__all__ = ["Action", "Plan", "PropertyChange", "RenderedResource", "ResourceChange", "diff", "load_render"]
