"""Alertmanager routing: pages and tickets to the alert topic, told apart by an SNS message attribute.

Amazon Managed Service for Prometheus runs Alertmanager with SNS as its receiver
(``sns_configs``; https://docs.aws.amazon.com/prometheus/latest/userguide/AMP-alertmanager-receiver-config.html).
Subscribers filter on the ``severity`` attribute (an SNS subscription filter policy): the
pager subscribes to ``page``, the team's queue to ``ticket``. Pages are sent fast and
repeated hourly while they last; tickets are grouped for longer and repeated daily. A
page inhibits the ticket of the same SLO and subject: one problem, one notification.
"""

from __future__ import annotations

from typing import Any

import yaml

from mlplat.operations.alerts import Severity

#: SNS subjects are limited to 100 ASCII characters; alert names and severities fit.
SUBJECT = "[{{ .CommonLabels.severity }}] {{ .CommonLabels.alertname }}"

_TIMING = {
    Severity.PAGE: {"group_wait": "30s", "group_interval": "5m", "repeat_interval": "1h"},
    Severity.TICKET: {"group_wait": "5m", "group_interval": "30m", "repeat_interval": "24h"},
}


def _receiver(severity: Severity, topic_arn: str, region: str) -> dict[str, Any]:
    return {
        "name": severity.value,
        "sns_configs": [
            {
                "topic_arn": topic_arn,
                "sigv4": {"region": region},
                "subject": SUBJECT,
                "attributes": {"severity": severity.value},
                "send_resolved": True,
            }
        ],
    }


def alertmanager_config(topic_arn: str, region: str) -> dict[str, Any]:
    """The Alertmanager configuration: one receiver per severity, unknown severities paged."""
    routes = [{"receiver": s.value, "matchers": [f'severity="{s.value}"'], **_TIMING[s]} for s in Severity]
    return {
        "route": {
            "receiver": Severity.PAGE.value,
            "group_by": ["alertname", "slo", "model", "view"],
            **_TIMING[Severity.PAGE],
            "routes": routes,
        },
        "inhibit_rules": [
            {
                "source_matchers": [f'severity="{Severity.PAGE.value}"'],
                "target_matchers": [f'severity="{Severity.TICKET.value}"'],
                "equal": ["slo", "model", "view"],
            }
        ],
        "receivers": [_receiver(s, topic_arn, region) for s in Severity],
    }


def amp_definition(topic_arn: str, region: str) -> str:
    """The document of an ``AlertManagerDefinition``: the configuration under ``alertmanager_config``."""
    config = yaml.safe_dump(alertmanager_config(topic_arn, region), sort_keys=False, width=1000)
    return str(yaml.safe_dump({"alertmanager_config": config}, sort_keys=False, width=1000))
