"""What the managed scraper collects: the services' pods in their namespace, one job per service.

Pods are found with Kubernetes service discovery (role ``pod``) in the services' namespace
only, which is all the scraper's cluster access allows (a namespace-scoped view policy).
A pod is scraped when it carries ``prometheus.io/scrape: "true"`` (set by the manifests),
on its ``prometheus.io/port``. Job names are the ones the alerts and ``mlplat up`` use.
"""

from __future__ import annotations

from typing import Any

import yaml

from infra.workloads.manifests import FEATURE_SERVER, MODEL_SERVER
from mlplat.operations.rules import FEATURE_SERVER_JOB, MODEL_SERVER_JOB

#: Every 30 s: the shortest SLO window (5 min) holds ten samples; cheap in samples ingested.
SCRAPE_INTERVAL = "30s"
JOBS = {FEATURE_SERVER_JOB: FEATURE_SERVER, MODEL_SERVER_JOB: MODEL_SERVER}


def _pod_label(label: str) -> str:
    return "__meta_kubernetes_pod_label_" + label.replace(".", "_").replace("/", "_").replace("-", "_")


def _job(job: str, component: str, namespace: str) -> dict[str, Any]:
    return {
        "job_name": job,
        "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": [namespace]}}],
        "relabel_configs": [
            {"source_labels": [_pod_label("app.kubernetes.io/component")], "regex": component, "action": "keep"},
            {
                "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"],
                "regex": "true",
                "action": "keep",
            },
            {
                "source_labels": ["__address__", "__meta_kubernetes_pod_annotation_prometheus_io_port"],
                "regex": r"([^:]+)(?::\d+)?;(\d+)",
                "replacement": "$1:$2",
                "target_label": "__address__",
            },
            {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
            {"source_labels": [_pod_label("app.kubernetes.io/name")], "target_label": "deployment"},
        ],
    }


def scrape_configuration(namespace: str, environment: str) -> str:
    """The scraper's Prometheus configuration (YAML), labelled with the environment."""
    config = {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "external_labels": {"environment": environment}},
        "scrape_configs": [_job(job, component, namespace) for job, component in JOBS.items()],
    }
    return str(yaml.safe_dump(config, sort_keys=False))
