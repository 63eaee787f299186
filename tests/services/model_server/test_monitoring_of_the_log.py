"""``mlplat monitor`` reads what the running model server writes: its records, enums and live segment."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from mlplat.catalog import Catalog
from mlplat.monitoring.monitor import MonitorOptions, monitor
from mlplat.monitoring.profile import PROFILE_NAME
from mlplat.online_store import OnlineStore
from mlplat.spec.kinds import Canary, Rollout
from services.model_server.app import build_app
from tests.model_fixtures import example_catalog
from tests.servers import running
from tests.services.model_server.conftest import components, seed_features
from tests.services.model_server.test_decisions import REQUEST

REPO = Path(__file__).resolve().parents[3]


def _profiles(artifact_root: Path, digests: dict[str, str]) -> None:
    """The committed v2 profile's bins, tied to the test artifacts' digests."""
    record = json.loads((REPO / "models/default_risk/v2" / PROFILE_NAME).read_text())
    for version, digest in digests.items():
        path = artifact_root / "default_risk" / version / PROFILE_NAME
        path.write_text(json.dumps({**record, "version": version, "sha256": digest}))


def test_monitor_reads_a_running_servers_log(
    store: OnlineStore,
    specs_dir: Path,
    digests: dict[str, dict[str, str]],
    artifact_root: Path,
    tmp_path: Path,
) -> None:
    seed_features(store)
    rollout = Rollout(primary="v1", canary=Canary(version="v2", percent=50))
    catalog: Catalog = example_catalog(specs_dir, digests, {"default_risk": rollout})
    log_path = tmp_path / "decisions"
    with (
        running(build_app(components(catalog, artifact_root, store, log_path))) as url,
        httpx.Client(base_url=url) as client,
    ):
        bodies = [client.post("/v1/decisions/default_risk", json=REQUEST["default_risk"]).json() for _ in range(30)]
        bad = {"entities": {"applicant_id": "a-1"}, "values": {"order_amount": 10.0, "instalments": 2}}
        assert all(client.post("/v1/decisions/default_risk", json=bad).status_code == 422 for _ in range(2))
        _profiles(artifact_root, digests["default_risk"])
        options = MonitorOptions(log_path, artifact_root, tmp_path, datetime.now(UTC) + timedelta(minutes=1))
        report = monitor(catalog, "default_risk", options)  # the server is running: its segment is still padded
    current = report.volumes[0]
    assert (current.requests, current.decisions, current.errors, current.refusals) == (32, 30, 2, 0)
    rates = {(r.version, r.role): r.decisions for r in report.rates}
    canaries = sum(1 for b in bodies if b["canary"])
    assert rates == {("v1", "primary"): 30 - canaries, ("v2", "canary"): canaries}
    assert all(d.count == 30 for d in report.inputs)
    assert all(h.missing_share == 0.0 and h.stale_share == 0.0 for h in report.health)
    assert report.performance is not None
    assert report.performance.months == ()
