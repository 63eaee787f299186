"""A real Prometheus beside ``mlplat up``: it scrapes the local services and runs the platform's rules.

The rules are :func:`~mlplat.operations.rules.catalog_rules` of the local specs, the ones
the Pulumi program loads into Amazon Managed Service for Prometheus, so an alert that
fires on a laptop is the alert that fires in production. Prometheus comes from PATH
(Debian/Ubuntu: ``apt-get install prometheus``; macOS: ``brew install prometheus``); without
one, ``mlplat up`` says so and runs without it. It listens on loopback only.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from mlplat.operations.rules import RuleFile
from mlplat.spec.types import format_duration


@dataclass(frozen=True)
class LocalPrometheus:
    """Where a local Prometheus keeps its files and what it scrapes."""

    state_dir: Path
    port: int
    targets: Mapping[str, str]
    """Scrape job name -> ``host:port`` of the service."""
    scrape_interval: timedelta = timedelta(seconds=5)
    evaluation_interval: timedelta = timedelta(seconds=5)
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def prometheus_config(local: LocalPrometheus, rule_file: str) -> dict[str, Any]:
    """The ``prometheus.yml`` of a local run: the services as static targets, the rules file."""
    return {
        "global": {
            "scrape_interval": format_duration(local.scrape_interval),
            "evaluation_interval": format_duration(local.evaluation_interval),
            "scrape_timeout": format_duration(min(local.scrape_interval, timedelta(seconds=10))),
        },
        "rule_files": [rule_file],
        "scrape_configs": [
            {"job_name": job, "metrics_path": "/metrics", "static_configs": [{"targets": [target]}]}
            for job, target in local.targets.items()
        ],
    }


def prometheus_binary() -> str | None:
    """``prometheus`` on PATH, or None."""
    return shutil.which("prometheus")


def start_prometheus(binary: str, local: LocalPrometheus, rules: RuleFile) -> subprocess.Popen[bytes]:
    """Write the rules and the config under ``state_dir`` and start Prometheus on them."""
    local.state_dir.mkdir(parents=True, exist_ok=True)
    (local.state_dir / "rules.yml").write_text(rules.to_yaml(), encoding="utf-8")
    config = prometheus_config(local, str(local.state_dir / "rules.yml"))
    (local.state_dir / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    with (local.state_dir / "prometheus.log").open("ab") as log:  # the child keeps its own descriptor
        return subprocess.Popen(  # noqa: S603 - the binary is Prometheus from PATH, the arguments ours
            [
                binary,
                f"--config.file={local.state_dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={local.state_dir / 'data'}",
                "--storage.tsdb.retention.time=3d",
                f"--web.listen-address={local.host}:{local.port}",
            ],
            stdout=log,
            stderr=log,
        )
