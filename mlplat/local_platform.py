"""The whole platform on one machine, on embedded defaults: ``mlplat up`` (``make run``).

Each step is a function that returns what it did, so the CLI can report it and tests
can run the steps on their own:

0. the claim: one ``mlplat up`` per state directory (a lock held while it runs), and
   its ports free, checked before anything is written;
1. live data: the seeded synthetic sources, shifted so their history ends today (the
   committed models were trained on the same generator with fixed dates);
2. models: the committed artifacts when they match the specs' sha256, else trained;
3. materialization of every online view into the online store;
4. a local issuer of service account tokens (:mod:`mlplat.local_identity`): its keys
   under the state directory, its key set served on loopback, one token per ``Caller``;
5. the feature server and the model server as child processes, verifying every
   caller's token against that issuer as they do on a cluster, until stopped;
6. a Prometheus from PATH, when installed, scraping both and running the platform's
   SLO rules and alerts (:mod:`mlplat.operations.local_prometheus`).

Stores default to files under the state directory (SQLite online store and registry);
``MLPLAT_ONLINE_STORE_URL`` and ``MLPLAT_REGISTRY_URL`` point them at Redis and MySQL.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq

from mlplat.catalog import Catalog
from mlplat.errors import MlplatError, UsageError
from mlplat.local_identity import LocalIssuer, load_or_make_key
from mlplat.offline.materialize import MaterializationResult, MaterializeOptions, OnlineTarget, materialize
from mlplat.operations.local_prometheus import LocalPrometheus, prometheus_binary, start_prometheus
from mlplat.operations.rules import DEFAULT_POLICY, FEATURE_SERVER_JOB, MODEL_SERVER_JOB, AlertPolicy, catalog_rules
from mlplat.registry import Registry
from mlplat.spec.kinds import SourceType
from mlplat.synthetic import SyntheticConfig, generate
from mlplat.training.trainer import TrainOptions, train_model

Report = Callable[[str], None]
LIVE_DAYS = 180
READY_TIMEOUT = 90.0


class LocalPlatformError(MlplatError):
    """The local platform could not be brought up; the message says which step and why."""


@dataclass(frozen=True)
class LocalSettings:
    """Where the local platform keeps its state and listens. Defaults need no server at all."""

    repo: Path
    """Repository root: ``specs/`` and the artifact root ``models/`` are below it."""
    state_dir: Path
    """Generated data, embedded stores and the decision log (``.mlplat/``)."""
    online_store_url: str
    registry_url: str
    host: str = "127.0.0.1"
    feature_port: int = 6566
    model_port: int = 8080
    prometheus_port: int = 9090
    namespace: str = "mlplat"
    applicants: int = 3000
    seed: int = 7
    authenticate: bool = True
    """Whether the services verify callers' tokens (``mlplat up --no-auth`` turns it off)."""

    @classmethod
    def from_environment(cls, repo: Path, environ: Mapping[str, str], **overrides: Any) -> LocalSettings:
        """Embedded defaults under ``repo/.mlplat``, unless ``MLPLAT_ONLINE_STORE_URL`` / ``MLPLAT_REGISTRY_URL`` say otherwise."""
        state = Path(environ.get("MLPLAT_STATE_DIR", str(repo / ".mlplat")))
        return cls(
            repo=repo,
            state_dir=state,
            online_store_url=environ.get("MLPLAT_ONLINE_STORE_URL", f"sqlite:///{state / 'online.db'}"),
            registry_url=environ.get("MLPLAT_REGISTRY_URL", f"sqlite:///{state / 'registry.db'}"),
            namespace=environ.get("MLPLAT_ONLINE_STORE_NAMESPACE", "mlplat"),
            **overrides,
        )

    @property
    def specs(self) -> Path:
        return self.repo / "specs"

    @property
    def artifact_root(self) -> Path:
        return self.repo / "models"

    @property
    def decision_log(self) -> Path:
        return self.state_dir / "decisions"

    @property
    def identity_dir(self) -> Path:
        """The local issuer's key and the callers' tokens."""
        return self.state_dir / "identity"

    @property
    def feature_url(self) -> str:
        return f"http://{self.host}:{self.feature_port}"

    @property
    def model_url(self) -> str:
        return f"http://{self.host}:{self.model_port}"

    def local_prometheus(self, interval: timedelta = timedelta(seconds=5)) -> LocalPrometheus:
        """Prometheus under the state directory, scraping both servers every ``interval``."""
        return LocalPrometheus(
            state_dir=self.state_dir / "prometheus",
            port=self.prometheus_port,
            targets={
                FEATURE_SERVER_JOB: f"{self.host}:{self.feature_port}",
                MODEL_SERVER_JOB: f"{self.host}:{self.model_port}",
            },
            scrape_interval=interval,
            evaluation_interval=interval,
            host=self.host,
        )


# --- 0. the claim --------------------------------------------------------------------


@dataclass
class StateClaim:
    """The exclusive lock of one ``mlplat up`` on its state directory; :meth:`release` ends it.

    A second ``up`` on the same state would overwrite the callers' tokens with ones the
    running servers reject and write into their stores, so it is refused instead. The lock
    is the kernel's (``flock``): it ends with the process, however the process ends.
    """

    path: Path
    descriptor: int

    def release(self) -> None:
        os.close(self.descriptor)  # closing the file drops the lock


def claim_state(settings: LocalSettings) -> StateClaim:
    """Lock ``settings.state_dir`` for this process, or say which ``mlplat up`` holds it."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    path = settings.state_dir / "up.lock"
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(descriptor, 32).decode(errors="replace").strip() or "unknown"
        os.close(descriptor)
        raise LocalPlatformError(
            f"another `mlplat up` (pid {holder}) is running with its state in {settings.state_dir}; "
            "stop it first (Ctrl-C), or give this one its own state and ports: "
            "MLPLAT_STATE_DIR=<dir> mlplat up --feature-port <port> --model-port <port>"
        ) from None
    os.ftruncate(descriptor, 0)
    os.write(descriptor, f"{os.getpid()}\n".encode())
    return StateClaim(path, descriptor)


def check_ports(settings: LocalSettings, *, prometheus: bool = False) -> None:
    """Fail before any work when a server's port is taken, naming the port and the flag that moves it.

    With ``prometheus`` (it is on PATH), its port too: taken, ``up`` would point at another one.
    """
    if settings.feature_port == settings.model_port:
        raise UsageError(f"--feature-port and --model-port are both {settings.feature_port}; give each server its own")
    servers = [
        ("feature server", "--feature-port", settings.feature_port),
        ("model server", "--model-port", settings.model_port),
    ]
    if prometheus:
        servers.append(("Prometheus", "--prometheus-port", settings.prometheus_port))
    for server, flag, port in servers:
        try:
            _bind_and_close(settings.host, port)
        except OSError as error:
            why = "is already in use by another process" if error.errno == errno.EADDRINUSE else f"fails: {error}"
            raise LocalPlatformError(
                f"port {port} on {settings.host} ({server}) {why}; "
                f"stop what holds it, or choose another port: mlplat up {flag} <port>"
            ) from None


def _bind_and_close(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As uvicorn binds: a port left in TIME_WAIT by the last run is free, a listening one is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


# --- 1. data ----------------------------------------------------------------------------


def live_data_dir(settings: LocalSettings, today: datetime) -> Path:
    """Where :func:`live_data` keeps the sources whose history ends at ``today``."""
    start = today - timedelta(days=LIVE_DAYS)
    return settings.state_dir / "data" / f"live-{start:%Y%m%d}-seed{settings.seed}-{settings.applicants}"


def live_data(catalog: Catalog, settings: LocalSettings, today: datetime) -> Path:
    """Synthetic sources whose history ends at ``today`` (generated once per day)."""
    start = today - timedelta(days=LIVE_DAYS)
    root = live_data_dir(settings, today)
    marker = root / ".complete"
    if not marker.exists():
        generate(catalog, root, SyntheticConfig(seed=settings.seed, applicants=settings.applicants, start=start))
        marker.write_text(today.isoformat())
    return root


# --- 2. models --------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelArtifact:
    """A model version the platform serves, and whether it was trained just now."""

    model: str
    version: str
    path: Path
    sha256: str
    trained: bool


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _serving_versions(catalog: Catalog) -> list[tuple[str, str]]:
    pairs = []
    for name, model in catalog.models.items():
        rollout = model.spec.rollout
        names = [rollout.primary]
        names += [role.version for role in (rollout.canary, rollout.shadow) if role is not None]
        pairs += [(name, version) for version in names]
    return pairs


def ensure_models(catalog: Catalog, settings: LocalSettings, report: Report) -> list[ModelArtifact]:
    """Every served version's artifact, reused when it matches the spec's sha256, else trained."""
    artifacts = []
    training_data: Path | None = None
    for name, version in _serving_versions(catalog):
        spec = catalog.model_version(name, version).artifact
        path = settings.artifact_root / spec.uri
        if _digest(path) == spec.sha256:
            artifacts.append(ModelArtifact(name, version, path, spec.sha256, trained=False))
            continue
        if training_data is None:
            training_data = settings.state_dir / "data" / f"training-seed{settings.seed}-{settings.applicants}"
            if not (training_data / ".complete").exists():
                report(f"generating training data in {training_data}")
                generate(catalog, training_data, SyntheticConfig(seed=settings.seed, applicants=settings.applicants))
                (training_data / ".complete").write_text("ok")
        report(f"training {name} {version}: {path} is missing or does not match the spec's sha256")
        artifacts.append(_train(catalog, settings, name, version, training_data, spec.sha256))
    return artifacts


def _train(
    catalog: Catalog, settings: LocalSettings, name: str, version: str, data: Path, pinned: str
) -> ModelArtifact:
    registry = Registry.open(settings.registry_url)
    try:
        options = TrainOptions(data_root=data, artifact_root=settings.artifact_root, version=version)
        trained = train_model(catalog, name, options, registry)
    finally:
        registry.close()
    if trained.sha256 != pinned:
        raise LocalPlatformError(
            f"training {name} {version} gave sha256 {trained.sha256}, but the spec pins {pinned}; "
            f"the model server refuses it. Set that version's artifact.sha256 to {trained.sha256} to serve it."
        )
    return ModelArtifact(name, version, Path(trained.artifact_path), trained.sha256, trained=True)


# --- 3. online store --------------------------------------------------------------------


def fill_online_store(catalog: Catalog, settings: LocalSettings, data: Path) -> list[MaterializationResult]:
    """Materialize every online view from ``data`` up to now (incrementally after the first run)."""
    views = [name for name, view in catalog.feature_views.items() if view.spec.online]
    registry = Registry.open(settings.registry_url)
    try:
        target = OnlineTarget(settings.online_store_url, namespace=settings.namespace)
        return materialize(catalog, views, target, registry, MaterializeOptions(data_root=data))
    finally:
        registry.close()


# --- 4. identity ------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalIdentity:
    """The running local issuer and the token file of each caller."""

    issuer: LocalIssuer
    tokens: Mapping[str, Path]


def start_identity(catalog: Catalog, settings: LocalSettings) -> LocalIdentity:
    """The local issuer, serving its keys on loopback, and a fresh token per caller of the specs."""
    issuer = LocalIssuer(load_or_make_key(settings.identity_dir), host=settings.host).start()
    tokens = issuer.write_tokens(catalog.callers.values(), settings.identity_dir / "tokens")
    return LocalIdentity(issuer, tokens)


def decision_caller(catalog: Catalog, model: str, identity: LocalIdentity | None) -> Path | None:
    """The token file of a caller allowed to take decisions with ``model`` (None when auth is off or none is)."""
    if identity is None:
        return None
    granted = [name for name in catalog.model(model).spec.serving.callers if name in identity.tokens]
    return identity.tokens[granted[0]] if granted else None


# --- 5. services ------------------------------------------------------------------------


@dataclass
class RunningPlatform:
    """The two server processes, the issuer they trust and Prometheus, when started; :meth:`stop` ends them gracefully."""

    settings: LocalSettings
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    prometheus: subprocess.Popen[bytes] | None = None
    identity: LocalIdentity | None = None

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Block until both servers answer their readiness probes."""
        probes = {
            "feature server": f"{self.settings.feature_url}/health/ready",
            "model server": f"{self.settings.model_url}/v2/health/ready",
        }
        deadline = time.monotonic() + timeout
        pending = dict(probes)
        with httpx.Client(timeout=2.0) as client:
            while pending:
                for name, url in list(pending.items()):
                    code = self.processes[name].poll()
                    if code is not None:
                        raise LocalPlatformError(
                            f"the {name} exited with status {code} while starting; its log is above"
                        )
                    try:
                        if client.get(url).status_code == 200:
                            del pending[name]
                    except httpx.TransportError:
                        pass
                if pending and time.monotonic() > deadline:
                    raise LocalPlatformError(
                        f"not ready after {timeout:.0f} s: {', '.join(pending)} ({', '.join(pending.values())})"
                    )
                time.sleep(0.2)

    def wait(self) -> tuple[str, int]:
        """Block until either server exits; which one, and its exit status."""
        while True:
            for name, process in self.processes.items():
                code = process.poll()
                if code is not None:
                    return name, code
            time.sleep(0.2)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM all (the servers drain in-flight requests and flush the decision log), then wait."""
        everything = [*self.processes.values(), *([self.prometheus] if self.prometheus else [])]
        for process in everything:
            if process.poll() is None:
                process.terminate()
        for process in everything:
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.identity is not None:
            self.identity.issuer.stop()


def _server_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "services.cli", *args]


def _identity_environment(identity: LocalIdentity | None) -> dict[str, str]:
    if identity is None:
        return {"MLPLAT_AUTH": "off"}
    # Keys by discovery from the local issuer; nothing of a cluster's key-set settings applies.
    cluster_only = dict.fromkeys(
        ("MLPLAT_AUTH_JWKS_URL", "MLPLAT_AUTH_JWKS_TOKEN_FILE", "MLPLAT_AUTH_JWKS_CA_FILE"), ""
    )
    return {"MLPLAT_AUTH": "on", "MLPLAT_AUTH_ISSUER": identity.issuer.url, **cluster_only}


def start_services(settings: LocalSettings, identity: LocalIdentity | None = None) -> RunningPlatform:
    """Start the feature server and the model server on ``settings``' ports, trusting ``identity``'s issuer.

    Without ``identity`` the services run with authentication off.
    """
    environment = {
        **os.environ,
        "MLPLAT_ONLINE_STORE_NAMESPACE": settings.namespace,
        "MLPLAT_DECISION_LOG": str(settings.decision_log),
        **_identity_environment(identity),
    }
    store, host = settings.online_store_url, settings.host
    commands = {
        "feature server": _server_command(
            "features", "--specs", str(settings.specs), "--online-store", store, "--host", host,
            "--port", str(settings.feature_port), "--workers", "1",
        ),
        "model server": _server_command(
            "models", "--specs", str(settings.specs), "--artifacts", str(settings.artifact_root),
            "--online-store", store, "--host", host, "--port", str(settings.model_port),
        ),
    }  # fmt: skip
    running = RunningPlatform(settings, identity=identity)
    for name, command in commands.items():
        running.processes[name] = subprocess.Popen(command, env=environment, cwd=settings.repo)  # noqa: S603
    return running


def start_monitoring(
    running: RunningPlatform,
    catalog: Catalog,
    policy: AlertPolicy = DEFAULT_POLICY,
    interval: timedelta = timedelta(seconds=5),
) -> str | None:
    """Prometheus on the catalog's rules beside the servers; its URL, or None when it is not on PATH."""
    binary = prometheus_binary()
    if binary is None:
        return None
    local = running.settings.local_prometheus(interval)
    running.prometheus = start_prometheus(binary, local, catalog_rules(catalog, policy))
    return local.url


def sample_decision(catalog: Catalog, data: Path, model: str) -> dict[str, Any]:
    """A ready-to-send decision request for ``model``: real keys and values from the live data."""
    spec = catalog.model(model).spec
    if spec.training is None:
        raise UsageError(f"model {model!r} has no training label source to take an example request from")
    source = catalog.sources[spec.training.label_source]
    if source.spec.type is not SourceType.BATCH or source.spec.path is None:
        raise UsageError(f"label source {source.metadata.name!r} is not a batch file")
    table = pq.read_table(data / source.spec.path)
    last = table.slice(table.num_rows - 1, 1).to_pylist()[0]
    keys = {catalog.entities[e].spec.join_key for v in _model_views(catalog, model) for e in _entities(catalog, v)}
    return {
        "entities": {key: last[key] for key in sorted(keys)},
        "values": {value.name: last[value.name] for value in spec.request_values},
    }


def _model_views(catalog: Catalog, model: str) -> Sequence[str]:
    return sorted({i.view for i in catalog.model_inputs(model) if i.view is not None})


def _entities(catalog: Catalog, view: str) -> Sequence[str]:
    return [ref.name for ref in catalog.feature_view(view).spec.entities]


def today_utc() -> datetime:
    """Midnight UTC of today, so the live data of one day is generated once."""
    now = datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)
