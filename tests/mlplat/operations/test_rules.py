"""The generated rules pass ``promtool check rules``, and ``promtool test rules`` shows each alert fire and stay quiet.

Synthetic series hold each SLO's error ratio at a constant multiple of its budget from
the start, so every window sees the same ratio: 0.5x fires nothing, 4x fires only the
ticket (4.5x: above 3x, below 6x), 20x fires both the page and the ticket.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlplat.catalog import Catalog
from mlplat.errors import UsageError
from mlplat.loader import load_catalog
from mlplat.operations import metric_names as m
from mlplat.operations.model_monitoring import MONITORING_ALERTS
from mlplat.operations.objectives import Slo, SloKind, catalog_slos
from mlplat.operations.rules import (
    TARGET_DOWN,
    AlertPolicy,
    Severity,
    all_alerts,
    burn_alert,
    catalog_rules,
    rule_file,
)
from tests.servers import system_tool

SPECS = Path(__file__).resolve().parents[3] / "specs"
MINUTES = 90  # an hour and a half of one-minute samples
EVAL = f"{MINUTES}m"


@pytest.fixture(scope="module")
def promtool() -> str:
    return system_tool("promtool", "prometheus")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(SPECS)


def _counter(rate_per_minute: float) -> str:
    return f"0+{rate_per_minute!r}x{MINUTES}"


def _series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    matchers = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{matchers}}}", "values": values}


def _bad_good(ratio: float, total: float = 1000.0) -> tuple[float, float]:
    return total * ratio, total * (1 - ratio)


def availability_series(slo: Slo, ratio: float) -> list[dict[str, str]]:
    bad, good = _bad_good(ratio)
    base = {"job": "mlplat-model-server", "instance": "a", "route": "decision", "model": slo.subject, "version": "v1"}
    return [
        _series(m.exposed(m.MODEL_REQUESTS), {**base, "outcome": "approve", "status": "200"}, _counter(good)),
        _series(m.exposed(m.MODEL_REQUESTS), {**base, "outcome": "error", "status": "503"}, _counter(bad)),
    ]


def latency_series(slo: Slo, ratio: float) -> list[dict[str, str]]:
    assert slo.latency_seconds is not None
    slow, fast = _bad_good(ratio)
    base = {"job": "mlplat-model-server", "instance": "a", "route": "decision", "model": slo.subject}
    name = m.MODEL_REQUEST_SECONDS
    return [
        _series(f"{name}_bucket", {**base, "le": m.le_label(slo.latency_seconds)}, _counter(fast)),
        _series(f"{name}_count", base, _counter(fast + slow)),
    ]


def freshness_series(slo: Slo, ratio: float) -> list[dict[str, str]]:
    """The newest event keeps up with the clock, except in a share ``ratio`` of minutes, spread out."""
    assert slo.max_age is not None
    stale_age = int(slo.max_age.total_seconds()) + 600
    every = round(1 / ratio) if ratio < 1 else 1
    values = [t * 60 - (stale_age if t % every == every - 1 or ratio >= 1 else 0) for t in range(MINUTES + 1)]
    base = {"job": "mlplat-feature-server", "instance": "a", "view": slo.subject}
    return [_series(m.VIEW_NEWEST_EVENT, base, " ".join(str(v) for v in values))]


def runs_series(slo: Slo, ratio: float) -> list[dict[str, str]]:
    failed, succeeded = _bad_good(ratio, total=1.0)
    name = m.exposed(m.MATERIALIZATION_RUNS)
    # Two replicas export the same store-kept counts: the rules must not double them.
    return [
        _series(name, {"job": "mlplat-feature-server", "instance": i, "view": slo.subject, "result": r}, _counter(v))
        for i in ("a", "b")
        for r, v in ((m.RUN_SUCCEEDED, succeeded), (m.RUN_FAILED, failed))
    ]


SERIES: dict[SloKind, Callable[[Slo, float], list[dict[str, str]]]] = {
    SloKind.MODEL_AVAILABILITY: availability_series,
    SloKind.MODEL_LATENCY: latency_series,
    SloKind.VIEW_FRESHNESS: freshness_series,
    SloKind.MATERIALIZATION_SUCCESS: runs_series,
}


@dataclass(frozen=True)
class Scenario:
    burn: float
    """Error ratio as a multiple of the budget."""
    firing: frozenset[Severity]


SCENARIOS = {
    "quiet": Scenario(0.5, frozenset()),
    "slow": Scenario(4.5, frozenset({Severity.TICKET})),
    "fast": Scenario(20, frozenset({Severity.PAGE, Severity.TICKET})),
}


def _expanded(template: str, labels: dict[str, str]) -> str:
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda match: labels.get(match.group(1), ""), template)


def _expected(rule: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    all_labels = {**labels, **rule["labels"]}
    return {
        "exp_labels": all_labels,
        "exp_annotations": {k: _expanded(v, all_labels) for k, v in rule["annotations"].items()},
    }


def _alert_rules(rules: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for g in rules["groups"] for r in g["rules"] if "alert" in r}


def burn_test(slo: Slo, scenario: Scenario, rules: dict[str, Any]) -> dict[str, Any]:
    alerts = _alert_rules(rules)
    labels = {"slo": slo.kind.value, slo.label: slo.subject}
    checks = []
    for severity in Severity:
        alert = burn_alert(slo.kind, severity)
        expected = [_expected(alerts[alert.name], labels)] if severity in scenario.firing else []
        checks.append({"eval_time": EVAL, "alertname": alert.name, "exp_alerts": expected})
    ratio = min(1.0, scenario.burn * slo.error_budget)
    return {"interval": "1m", "input_series": SERIES[slo.kind](slo, ratio), "alert_rule_test": checks}


def target_down_test(rules: dict[str, Any]) -> dict[str, Any]:
    labels = {"job": "mlplat-model-server", "instance": "10.0.1.7:8080"}
    rule = _alert_rules(rules)[TARGET_DOWN.name]
    return {
        "interval": "1m",
        "input_series": [_series("up", labels, "1x9 0x30")],
        "alert_rule_test": [
            {"eval_time": "15m", "alertname": TARGET_DOWN.name, "exp_alerts": []},  # down 5 of the 10 minutes
            {"eval_time": "25m", "alertname": TARGET_DOWN.name, "exp_alerts": [_expected(rule, labels)]},
        ],
    }


def resolve_test(slo: Slo, rules: dict[str, Any]) -> dict[str, Any]:
    """Errors at 20x the budget for an hour, then none: the page fires, then resolves within minutes."""
    good = 1000 * (1 - 20 * slo.error_budget)
    bad = 1000 * 20 * slo.error_budget
    base = {"job": "mlplat-model-server", "instance": "a", "route": "decision", "model": slo.subject, "version": "v1"}
    name = m.exposed(m.MODEL_REQUESTS)
    page = burn_alert(slo.kind, Severity.PAGE)
    firing = [_expected(_alert_rules(rules)[page.name], {"slo": slo.kind.value, slo.label: slo.subject})]
    return {
        "interval": "1m",
        "input_series": [
            _series(name, {**base, "outcome": "approve", "status": "200"}, f"0+{good!r}x60 {60 * good!r}+1000x60"),
            _series(name, {**base, "outcome": "error", "status": "503"}, f"0+{bad!r}x60 {60 * bad!r}+0x60"),
        ],
        "alert_rule_test": [
            {"eval_time": "59m", "alertname": page.name, "exp_alerts": firing},
            # 1h/5m: the 5m window is clean after 5 minutes; 6h/30m: the 30m window after 30.
            {"eval_time": "95m", "alertname": page.name, "exp_alerts": []},
        ],
    }


def _one_per_kind(catalog: Catalog) -> list[Slo]:
    slos = catalog_slos(catalog)
    return [next(s for s in slos if s.kind is kind) for kind in SloKind]


def _promtool(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=120, check=False)


def test_rules_of_the_example_specs_pass_promtool_check(promtool: str, catalog: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(catalog_rules(catalog).to_yaml())

    result = _promtool(promtool, "check", "rules", str(path))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.slow
def test_every_alert_fires_and_stays_quiet_in_promtool_unit_tests(
    promtool: str, catalog: Catalog, tmp_path: Path
) -> None:
    slos = _one_per_kind(catalog)
    rules = rule_file(slos)  # the rules of the SLOs under test only: promtool evaluates every rule every minute
    (tmp_path / "rules.yaml").write_text(rules.to_yaml())
    tests = [burn_test(slo, s, rules.to_dict()) for slo in slos for s in SCENARIOS.values()]
    tests.append(target_down_test(rules.to_dict()))
    tests.append(resolve_test(slos[0], rules.to_dict()))
    (tmp_path / "tests.yaml").write_text(
        yaml.safe_dump({"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests}, sort_keys=False)
    )
    tested = {c["alertname"] for t in tests for c in t["alert_rule_test"] if c["exp_alerts"]}
    quiet = {c["alertname"] for t in tests for c in t["alert_rule_test"] if not c["exp_alerts"]}

    result = _promtool(promtool, "test", "rules", str(tmp_path / "tests.yaml"))

    assert result.returncode == 0, result.stdout + result.stderr
    # The model-monitoring alerts have their own cases (test_model_monitoring.py).
    assert tested == quiet == {a.name for a in all_alerts()} - {a.name for a in MONITORING_ALERTS}


def test_scaled_policy_compresses_every_window() -> None:
    policy = AlertPolicy().scaled(1 / 60)

    assert policy.durations()[0] == timedelta(seconds=5)
    assert policy.durations()[-1] == timedelta(hours=1, minutes=12)
    assert policy.target_down_for == timedelta(seconds=10)


@pytest.mark.parametrize("ratio", [0, -1, 2])
def test_a_scale_outside_zero_to_one_is_refused(ratio: float) -> None:
    with pytest.raises(UsageError, match=r"give a ratio in \(0, 1\]"):
        AlertPolicy().scaled(ratio)


def test_runbook_urls_follow_the_policys_base() -> None:
    rules = rule_file(catalog_slos(load_catalog(SPECS)), AlertPolicy(runbook_base="https://docs.example/runbooks/"))
    urls = {r["annotations"]["runbook_url"] for g in rules.groups for r in g["rules"] if "alert" in r}
    assert "https://docs.example/runbooks/ModelLatencyFastBurn.md" in urls
    assert all(url.startswith("https://docs.example/runbooks/") and url.endswith(".md") for url in urls)
