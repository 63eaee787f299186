"""The alerts against the running services: every rule reads what the servers really expose (and
what ``mlplat monitor --metrics-file`` really writes), and a store outage fires the availability
alert in a real Prometheus, which resolves once the store is back.

Both servers run as `mlplat-serve` processes over real HTTP against a throwaway
redis-server this module starts (never the machine's shared Redis, which it stops). The
monitoring figures come from the real command run on decisions simulated from the
default synthetic data and the committed models, long enough for outcomes to mature.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import promql_parser
import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from mlplat.catalog import Catalog
from mlplat.cli import app
from mlplat.loader import load_catalog
from mlplat.local_platform import LocalSettings, RunningPlatform, start_monitoring, start_services
from mlplat.monitoring.synthetic_decisions import SimulationConfig, simulate
from mlplat.operations.dashboards import catalog_dashboards
from mlplat.operations.model_monitoring import MONITORING_ALERTS
from mlplat.operations.rules import SERVICE_JOBS, AlertPolicy, catalog_rules
from mlplat.spec.types import DType, JoinKeyType
from mlplat.synthetic import SyntheticConfig, generate
from tests.servers import free_port, system_tool, throwaway_redis

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent
#: Series Prometheus itself writes for every target; the services do not emit them.
PROMETHEUS_SERIES = {"up": {"job", "instance"}}


class Store:
    """A throwaway redis-server on a fixed port that the test can stop and start again."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self._running: ExitStack | None = None

    def start(self) -> None:
        stack = ExitStack()
        stack.enter_context(throwaway_redis(self.directory, self.port))
        self._running = stack

    def stop(self) -> None:
        if self._running is not None:
            self._running.close()
            self._running = None


@dataclass
class Stack:
    catalog: Catalog
    settings: LocalSettings
    running: RunningPlatform
    store: Store


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state = tmp_path_factory.mktemp("platform")
    store = Store(tmp_path_factory.mktemp("redis"))
    store.start()
    settings = LocalSettings(
        repo=REPO,
        state_dir=state,
        online_store_url=f"redis://127.0.0.1:{store.port}/0",
        registry_url=f"sqlite:///{state / 'registry.db'}",
        feature_port=free_port(),
        model_port=free_port(),
        prometheus_port=free_port(),
    )
    running = start_services(settings)
    try:
        running.wait_ready()
        yield Stack(load_catalog(REPO / "specs"), settings, running, store)
    finally:
        running.stop()
        store.stop()


def decision_body(catalog: Catalog, model: str) -> dict[str, Any]:
    """A well-formed request: every entity key the model's views need, every request value."""
    entities: dict[str, Any] = {}
    for model_input in catalog.model_inputs(model):
        for key in catalog.join_keys(model_input.view) if model_input.view else ():
            entities[key.request_key] = 1 if key.type is JoinKeyType.INT64 else "k0000001"
    values: dict[str, Any] = {}
    for value in catalog.model(model).spec.request_values:
        values[value.name] = True if value.dtype is DType.BOOL else 2
    return {"entities": entities, "values": values}


def traffic(stack: Stack) -> None:
    """One request of each kind the SLOs count, so every labelled series exists."""
    with httpx.Client(timeout=10) as client:
        for model in stack.catalog.models:
            answer = client.post(
                f"{stack.settings.model_url}/v1/decisions/{model}", json=decision_body(stack.catalog, model)
            )
            assert answer.status_code == 200, answer.text
        assert client.post(f"{stack.settings.model_url}/v1/decisions/nope", json={}).status_code == 404
        view = next(name for name, v in stack.catalog.feature_views.items() if v.spec.online)
        keys = stack.catalog.join_keys(view)
        df = {k.request_key: ["k1"] if k.type is JoinKeyType.STRING else [1] for k in keys}
        push = client.post(
            f"{stack.settings.feature_url}/push",
            json={"view": view, "df": {**df, "event_timestamp": [int(time.time())]}},
        )
        assert push.status_code == 200, push.text
        for name, spec in stack.catalog.feature_views.items():
            if spec.spec.online:
                keys = {
                    k.request_key: ["k1"] if k.type is JoinKeyType.STRING else [1]
                    for k in stack.catalog.join_keys(name)
                }
                features = [f"{name}:{spec.spec.features[0].name}"]
                read = client.post(
                    f"{stack.settings.feature_url}/get-online-features", json={"features": features, "entities": keys}
                )
                assert read.status_code == 200, read.text


def scrape(url: str) -> dict[str, list[dict[str, str]]]:
    """Sample name -> the label sets exposed under it."""
    return exposition(httpx.get(f"{url}/metrics", timeout=10).text)


def exposition(text: str, into: dict[str, list[dict[str, str]]] | None = None) -> dict[str, list[dict[str, str]]]:
    """Sample name -> the label sets of a Prometheus text exposition (added to ``into``)."""
    samples = into if into is not None else {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(dict(sample.labels))
    return samples


#: Long enough for both example models' label windows (90 and 60 days) to pass for some months.
SIMULATED = SimulationConfig(start=datetime(2026, 3, 2, tzinfo=UTC), days=120, per_day=20, shadow=None)


@pytest.fixture(scope="module")
def monitoring_output(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, str]]]:
    """What `mlplat monitor MODEL --metrics-file` writes for every example model, on simulated decisions."""
    catalog = load_catalog(REPO / "specs")
    root = tmp_path_factory.mktemp("monitoring")
    generate(catalog, root / "data", SyntheticConfig())
    samples: dict[str, list[dict[str, str]]] = {}
    as_of = (SIMULATED.start + timedelta(days=SIMULATED.days)).isoformat()
    for model in sorted(catalog.models):
        log, outcomes, metrics = root / model / "log", root / model / "outcomes", root / f"{model}.prom"
        simulate(catalog, model, root / "data", REPO / "models", log, outcomes, SIMULATED)
        arguments = ["monitor", model, "--decision-log", str(log), "--specs", str(REPO / "specs")]
        arguments += ["--artifacts", str(REPO / "models"), "--data", str(outcomes), "--as-of", as_of]
        result = CliRunner().invoke(app, [*arguments, "--metrics-file", str(metrics)])
        assert result.exit_code == 0, result.output
        exposition(metrics.read_text(), samples)
    return samples


def selectors(expr: str) -> tuple[list[promql_parser.VectorSelector], set[str]]:
    """The series selectors of a PromQL expression and the labels its aggregations group by."""
    found: list[promql_parser.VectorSelector] = []
    grouping: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)
        if isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None:
            grouping.update(node.modifier.labels)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found, grouping


def problems(expr: str, exposed: dict[str, list[dict[str, str]]], recorded: dict[str, set[str]]) -> list[str]:
    """What ``expr`` reads that nothing emits: unknown series, labels, or label values."""
    found, grouping = selectors(expr)
    wrong: list[str] = []
    available: set[str] = set()
    for selector in found:
        matchers = {m.name: m for m in selector.matchers.matchers}
        if selector.name in recorded:
            labels = recorded[selector.name]
        elif selector.name in PROMETHEUS_SERIES:
            labels = PROMETHEUS_SERIES[selector.name]
        elif selector.name in exposed:
            series = exposed[selector.name]
            labels = {label for labelset in series for label in labelset}
            for name, matcher in matchers.items():
                if str(matcher.op) == "MatchOp.Equal" and not any(s.get(name) == matcher.value for s in series):
                    wrong.append(f"{selector.name}: no series has {name}={matcher.value!r}")
        else:
            wrong.append(f"{selector.name}: not exposed by any service nor recorded by a rule")
            continue
        available |= labels
        wrong += [f"{selector.name}: has no label {name!r}" for name in matchers if name not in labels]
    wrong += [f"groups by {label!r}, which no selected series has" for label in grouping - available]
    return wrong


def test_every_rule_and_panel_reads_only_what_the_services_emit(
    stack: Stack, monitoring_output: dict[str, list[dict[str, str]]]
) -> None:
    traffic(stack)
    exposed = {**scrape(stack.settings.model_url), **scrape(stack.settings.feature_url), **monitoring_output}
    rules = [r for g in catalog_rules(stack.catalog).to_dict()["groups"] for r in g["rules"]]
    recorded: dict[str, set[str]] = {}
    for rule in rules:
        if "record" in rule:
            recorded.setdefault(rule["record"], set()).update(rule.get("labels", {}))
    panels = [
        t["expr"] for board in catalog_dashboards(stack.catalog).values() for p in board["panels"] for t in p["targets"]
    ]

    found = {expr: problems(expr, exposed, recorded) for expr in [r["expr"] for r in rules] + panels}

    assert {expr: wrong for expr, wrong in found.items() if wrong} == {}
    # Nine SLO and scrape alerts, and the monitoring alerts once per model.
    assert sum(1 for r in rules if "alert" in r) == 9 + len(MONITORING_ALERTS) * len(stack.catalog.models)
    # Every monitoring figure an alert reads was written for every model.
    for name in ("mlplat_model_realized_auc", "mlplat_model_input_reference_missing_share"):
        assert {labels["model"] for labels in monitoring_output[name]} == set(stack.catalog.models), name


def _alert_states(url: str, alert: str, model: str) -> set[str]:
    answer = httpx.get(f"{url}/api/v1/alerts", timeout=5).json()
    return {
        a["state"]
        for a in answer["data"]["alerts"]
        if a["labels"]["alertname"] == alert and a["labels"].get("model") == model
    }


def _wait_for(condition: Any, timeout: float, what: str) -> None:
    """Poll ``condition`` until true; a server not listening yet counts as not yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout:.0f} s")
        time.sleep(0.5)


def test_a_store_outage_fires_the_availability_alert_and_it_resolves_when_the_store_is_back(stack: Stack) -> None:
    system_tool("prometheus", "prometheus")
    # The production rules on a clock 60 times faster: 1h/5m windows become 1m/5s.
    prometheus = start_monitoring(stack.running, stack.catalog, AlertPolicy().scaled(1 / 60), timedelta(seconds=1))
    assert prometheus is not None
    model = "default_risk"
    url, body = f"{stack.settings.model_url}/v1/decisions/{model}", decision_body(stack.catalog, model)
    statuses: list[int] = []
    done = threading.Event()

    def load() -> None:
        with httpx.Client(timeout=5) as client:
            while not done.is_set():
                statuses.append(client.post(url, json=body).status_code)
                time.sleep(0.02)

    sender = threading.Thread(target=load, daemon=True)
    sender.start()
    try:
        _wait_for(lambda: httpx.get(f"{prometheus}/-/ready", timeout=2).status_code == 200, 30, "Prometheus not ready")

        def scraping() -> bool:
            targets = httpx.get(f"{prometheus}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
            return {t["labels"]["job"] for t in targets if t["health"] == "up"} == set(SERVICE_JOBS)

        _wait_for(scraping, 30, "Prometheus did not scrape both services")
        time.sleep(5)  # a few healthy scrapes first
        assert _alert_states(prometheus, "ModelAvailabilityFastBurn", model) == set()

        stack.store.stop()
        _wait_for(lambda: 503 in statuses[-5:], 15, "decisions did not fail with 503 after the store stopped")
        _wait_for(
            lambda: _alert_states(prometheus, "ModelAvailabilityFastBurn", model) == {"firing"},
            60,
            "ModelAvailabilityFastBurn did not fire",
        )

        stack.store.start()
        _wait_for(lambda: statuses[-5:] == [200] * 5, 20, "decisions did not recover after the store came back")
        _wait_for(
            lambda: _alert_states(prometheus, "ModelAvailabilityFastBurn", model) == set(),
            90,
            "ModelAvailabilityFastBurn did not resolve",
        )
    finally:
        done.set()
        sender.join(timeout=10)
