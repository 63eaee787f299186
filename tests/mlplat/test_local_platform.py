"""`mlplat up`'s claim on its state and ports: a second platform, or a taken port, stops before any work."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlplat.errors import UsageError
from mlplat.local_platform import (
    LocalPlatformError,
    LocalSettings,
    RunningPlatform,
    check_ports,
    claim_state,
)
from tests.servers import free_port


def _settings(tmp_path: Path, **overrides: object) -> LocalSettings:
    environ = {"MLPLAT_STATE_DIR": str(tmp_path / "state")}
    return LocalSettings.from_environment(tmp_path, environ, **overrides)


@pytest.fixture
def listening() -> Iterator[int]:
    """A port another process might hold: bound and listening."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield int(server.getsockname()[1])


def _up(repo: Path, state: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlplat", "up", *options],
        cwd=repo,
        env={**os.environ, "MLPLAT_STATE_DIR": str(state)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_second_claim_on_the_same_state_is_refused_naming_the_holder(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    first = claim_state(settings)
    try:
        with pytest.raises(LocalPlatformError) as refused:
            claim_state(settings)
    finally:
        first.release()
    message = str(refused.value)
    assert f"pid {os.getpid()}" in message
    assert str(settings.state_dir) in message
    assert "MLPLAT_STATE_DIR" in message
    claim_state(settings).release()  # released: the next platform may start


def test_a_second_up_on_the_same_state_fails_at_once_and_writes_nothing(repo: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    held = claim_state(_settings(tmp_path))  # as a running `mlplat up` holds it
    try:
        result = _up(repo, state, "--feature-port", str(free_port()), "--model-port", str(free_port()))
    finally:
        held.release()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "another `mlplat up`" in result.stderr
    # The running platform's tokens, data and stores are untouched.
    assert sorted(p.name for p in state.iterdir()) == ["up.lock"]


def test_a_taken_port_is_named_with_the_flag_that_moves_it(tmp_path: Path, listening: int) -> None:
    with pytest.raises(LocalPlatformError, match=f"port {listening} on 127.0.0.1 \\(model server\\) is already in use"):
        check_ports(_settings(tmp_path, feature_port=free_port(), model_port=listening))
    with pytest.raises(LocalPlatformError, match="mlplat up --feature-port <port>"):
        check_ports(_settings(tmp_path, feature_port=listening, model_port=free_port()))


def test_prometheus_port_is_checked_when_prometheus_runs(tmp_path: Path, listening: int) -> None:
    settings = _settings(tmp_path, feature_port=free_port(), model_port=free_port(), prometheus_port=listening)
    check_ports(settings)  # not on PATH: Prometheus does not start, its port is not needed
    with pytest.raises(LocalPlatformError, match=f"port {listening} on 127.0.0.1 \\(Prometheus\\).*--prometheus-port"):
        check_ports(settings, prometheus=True)


def test_one_port_for_both_servers_is_a_usage_error(tmp_path: Path) -> None:
    port = free_port()
    with pytest.raises(UsageError, match=f"both {port}"):
        check_ports(_settings(tmp_path, feature_port=port, model_port=port))


def test_up_on_a_taken_port_fails_before_any_work(repo: Path, tmp_path: Path, listening: int) -> None:
    state = tmp_path / "state"
    result = _up(repo, state, "--feature-port", str(listening), "--model-port", str(free_port()))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"port {listening} on 127.0.0.1 (feature server) is already in use" in result.stderr
    assert not (state / "identity").exists()
    assert not (state / "data").exists()


def test_a_server_that_exits_is_named_with_its_status(tmp_path: Path) -> None:
    running = RunningPlatform(_settings(tmp_path))
    running.processes["model server"] = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    running.processes["feature server"] = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert running.wait() == ("model server", 3)
    finally:
        running.stop()
