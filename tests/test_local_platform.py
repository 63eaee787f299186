"""The local platform as a user starts it: `mlplat up`, a decision over HTTP, its audit record, Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import redis

from mlplat.decision_log import read_decision_log
from tests.servers import free_port

CURL = re.compile(
    r"curl -s -X POST (\S+)(?: -H \"authorization: Bearer \$\(cat (\S+)\)\")? -H 'content-type: application/json' -d '(.*)'$"
)


class Platform:
    """`python -m mlplat up` in a child process, its output collected line by line."""

    def __init__(self, repo: Path, environment: dict[str, str], *options: str) -> None:
        self.lines: list[str] = []
        self.feature_port = free_port()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlplat",
                "up",
                "--feature-port",
                str(self.feature_port),
                "--model-port",
                str(free_port()),
                "--prometheus-port",
                str(free_port()),
                *options,
            ],
            cwd=repo,
            env={**os.environ, **environment},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for line in self.lines[seen:]:
                if match := pattern.search(line):
                    return match
            seen = len(self.lines)
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        pytest.fail("mlplat up did not print the decision request:\n" + "\n".join(self.lines[-40:]))

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=60)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.reader.join(timeout=10)
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture
def platform(repo: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Platform]:
    environment = {"MLPLAT_STATE_DIR": str(tmp_path / "state"), **getattr(request, "param", {})}
    started = Platform(repo, environment)
    yield started
    started.close()


def _decide_and_find_the_record(platform: Platform, state: Path) -> dict[str, object]:
    url, token_file, body = platform.wait_for(CURL, timeout=240).groups()
    headers = {"content-type": "application/json"}
    # The services verify callers' tokens locally too: without one the decision is refused.
    assert token_file is not None, "mlplat up must print the caller token the decision needs"
    assert httpx.post(url, content=body, headers=headers, timeout=10).status_code == 401
    token = Path(token_file).read_text()
    assert token not in "\n".join(platform.lines)  # the token file is named, the token never printed
    assert Path(token_file).stat().st_mode & 0o077 == 0
    response = httpx.post(url, content=body, headers={**headers, "authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200, response.text
    decision = response.json()
    assert decision["decision"] in {"approve", "decline"}
    assert 0.0 <= decision["score"] <= 1.0
    assert decision["reasons"]
    records = {record["id"]: record for record in read_decision_log(state / "decisions")}
    assert records[decision["decision_id"]]["caller"] == {"name": "checkout_api", "principal": "checkout/checkout-api"}
    return decision


def _rule_groups(prometheus: str, timeout: float = 30) -> set[str]:
    """The rule groups a starting Prometheus has loaded, once it answers."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=5).json()["data"]["groups"]
            return {group["name"] for group in groups}
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.slow
def test_up_serves_a_decision_that_lands_in_the_decision_log_and_stops_on_ctrl_c(
    platform: Platform, repo: Path, tmp_path: Path
) -> None:
    decision = _decide_and_find_the_record(platform, tmp_path / "state")
    assert decision["model"] == "default_risk"
    # The README's request is the one `up` prints (the same applicant, merchant and values).
    printed = platform.wait_for(CURL, timeout=1)
    readme = (repo / "README.md").read_text()
    shown = re.search(r"curl -s -X POST (\S+) \\\n.*?-d '(.*?)'\n", readme, re.DOTALL)
    assert shown is not None
    assert urlsplit(shown.group(1)).path == urlsplit(printed.group(1)).path
    assert json.loads(shown.group(2)) == json.loads(printed.group(3))
    assert decision["features"]["bureau_profile:fico_score"]["status"] == "PRESENT"
    # The local Prometheus runs the platform's rules, or `up` says why it does not.
    said = next(line for line in platform.lines if line.startswith("prometheus"))
    if shutil.which("prometheus"):
        url = said.split()[1].removesuffix("/alerts")
        assert "slo-alerts" in _rule_groups(url)
    else:
        assert "not on PATH" in said
    # The feature server checks the same tokens: the console reads the bureau view, checkout may not.
    read = {"features": ["bureau_profile:fico_score"], "entities": {"applicant_id": ["a0000001"]}}
    tokens = tmp_path / "state" / "identity" / "tokens"
    url = f"http://127.0.0.1:{platform.feature_port}/get-online-features"
    for caller, status in (("underwriting_console", 200), ("checkout_api", 403)):
        headers = {"authorization": f"Bearer {(tokens / f'{caller}.token').read_text()}"}
        assert httpx.post(url, json=read, headers=headers, timeout=10).status_code == status
    assert platform.interrupt() == 0
    assert "stopping" in "\n".join(platform.lines)


@pytest.fixture
def redis_namespace(redis_url: str, namespace: str) -> Iterator[str]:
    yield namespace
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{namespace}*", count=10_000):
        client.delete(key)


@pytest.mark.slow
def test_up_uses_redis_and_mysql_when_their_urls_are_set(
    repo: Path, tmp_path: Path, redis_url: str, redis_namespace: str, mysql_url: str
) -> None:
    environment = {
        "MLPLAT_STATE_DIR": str(tmp_path / "state"),
        "MLPLAT_ONLINE_STORE_URL": redis_url,
        "MLPLAT_ONLINE_STORE_NAMESPACE": redis_namespace,
        "MLPLAT_REGISTRY_URL": mysql_url,
    }
    platform = Platform(repo, environment)
    try:
        platform.wait_for(re.compile(re.escape(f"rows into {redis_url}")), timeout=240)
        _decide_and_find_the_record(platform, tmp_path / "state")
        assert not (tmp_path / "state" / "online.db").exists()
        assert not (tmp_path / "state" / "registry.db").exists()
        assert any(redis.Redis.from_url(redis_url).scan_iter(match=f"{redis_namespace}*", count=10_000))
        assert platform.interrupt() == 0
    finally:
        platform.close()


@pytest.mark.slow
def test_up_without_auth_says_so_loudly_and_serves_anonymous_callers(repo: Path, tmp_path: Path) -> None:
    platform = Platform(repo, {"MLPLAT_STATE_DIR": str(tmp_path / "state")}, "--no-auth")
    try:
        url, token_file, body = platform.wait_for(CURL, timeout=240).groups()
        assert token_file is None
        assert "WARNING: caller authentication is OFF" in "\n".join(platform.lines)
        response = httpx.post(url, content=body, headers={"content-type": "application/json"}, timeout=10)
        assert response.status_code == 200, response.text
        records = {r["id"]: r for r in read_decision_log(tmp_path / "state" / "decisions")}
        assert records[response.json()["decision_id"]]["caller"] == {"name": "anonymous", "principal": None}
        assert platform.interrupt() == 0
    finally:
        platform.close()


@pytest.mark.slow
def test_decisions_taken_through_up_get_outcomes_and_realized_performance(
    platform: Platform, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    from typer.testing import CliRunner

    from mlplat.cli import app
    from mlplat.loader import load_catalog
    from mlplat.monitoring.logged_outcomes import write_logged_outcomes
    from mlplat.monitoring.monitor import MonitorOptions, monitor

    url, _, _ = platform.wait_for(CURL, timeout=240).groups()
    # `send-decisions` finds today's live data and the caller's token where `up` put them.
    monkeypatch.setenv("MLPLAT_STATE_DIR", str(tmp_path / "state"))
    base = url.split("/v1/")[0]
    arguments = ["send-decisions", "default_risk", "--count", "400", "--url", base, "--specs", str(repo / "specs")]
    sent = CliRunner().invoke(app, arguments)
    assert sent.exit_code == 0, sent.output
    assert "sent 400: status {200: 400}" in sent.stdout
    assert platform.interrupt() == 0
    catalog = load_catalog(repo / "specs")
    log, outcomes = tmp_path / "state" / "decisions", tmp_path / "outcomes"
    written = write_logged_outcomes(catalog, "default_risk", log, outcomes)
    assert written.decisions == 400
    assert 0 < written.positives < 200
    # Decided today: as of now nothing has matured; after the 90-day label window every decision has its outcome.
    now = datetime.now(UTC)
    today = monitor(catalog, "default_risk", MonitorOptions(log, repo / "models", outcomes, now + timedelta(minutes=1)))
    assert today.performance is not None
    assert today.performance.months == ()
    later = now + timedelta(days=91)
    options = MonitorOptions(log, repo / "models", outcomes, later, window=timedelta(days=92))
    report = monitor(catalog, "default_risk", options)
    assert report.performance is not None
    months = [m for m in report.performance.months if m.matured]
    assert sum(m.with_outcome for m in months) == sum(m.matured for m in months) == 400
    assert all(m.auc is not None and m.auc > 0.65 for m in months)  # the served score ranks the true defaults
