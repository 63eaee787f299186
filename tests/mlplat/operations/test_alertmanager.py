"""The Alertmanager configuration passes ``amtool check-config`` and routes each severity to its receiver."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from mlplat.operations.alertmanager import alertmanager_config, amp_definition
from mlplat.operations.rules import Severity
from tests.servers import system_tool

TOPIC = "arn:aws:sns:eu-west-1:123456789012:mlplat-prod-alerts"


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("alertmanager") / "alertmanager.yml"
    path.write_text(yaml.safe_dump(alertmanager_config(TOPIC, "eu-west-1")))
    return path


def _amtool(*args: str) -> subprocess.CompletedProcess[str]:
    amtool = system_tool("amtool", "prometheus-alertmanager")
    return subprocess.run([amtool, *args], capture_output=True, text=True, timeout=60, check=False)


def test_amtool_accepts_the_configuration(config_file: Path) -> None:
    result = _amtool("check-config", str(config_file))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=page", "alertname=ModelAvailabilityFastBurn"], "page"),
        (["severity=ticket", "alertname=ModelAvailabilitySlowBurn"], "ticket"),
        (["alertname=SomethingWithoutSeverity"], "page"),  # unknown severities wake someone up
    ],
)
def test_each_severity_reaches_its_receiver(config_file: Path, labels: list[str], receiver: str) -> None:
    result = _amtool("config", "routes", "test", f"--config.file={config_file}", *labels)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == receiver


def test_receivers_tell_subscribers_the_severity_and_the_amp_document_wraps_the_config() -> None:
    config = alertmanager_config(TOPIC, "eu-west-1")
    attributes = {r["name"]: r["sns_configs"][0]["attributes"] for r in config["receivers"]}

    assert attributes == {s.value: {"severity": s.value} for s in Severity}
    assert yaml.safe_load(yaml.safe_load(amp_definition(TOPIC, "eu-west-1"))["alertmanager_config"]) == config
