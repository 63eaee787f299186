"""What every alert of the platform has: a severity that decides its route, a summary, a runbook.

Shared by the SLO alerts (:mod:`mlplat.operations.rules`) and the model-monitoring alerts
(:mod:`mlplat.operations.model_monitoring`), so both route and link runbooks the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mlplat.operations.objectives import SloKind

#: Where runbooks live in the repository; each alert's ``runbook_url`` ends in ``<alert>.md``.
RUNBOOK_DIR = "docs/runbooks"


class Severity(StrEnum):
    """How an alert reaches people: a page wakes the on-call, a ticket waits for working hours."""

    PAGE = "page"
    TICKET = "ticket"


@dataclass(frozen=True)
class AlertInfo:
    """What an alert is about; its runbook is ``docs/runbooks/<name>.md``."""

    name: str
    severity: Severity
    summary: str
    kind: SloKind | None = None


def alert_annotations(alert: AlertInfo, runbook_base: str, description: str) -> dict[str, str]:
    """The annotations of an alert rule: summary, description and the link to its runbook."""
    return {
        "summary": alert.summary,
        "description": description,
        "runbook_url": f"{runbook_base.rstrip('/')}/{alert.name}.md",
    }
