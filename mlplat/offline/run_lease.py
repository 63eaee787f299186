"""Leases on materialization runs: a running run heartbeats, and a run that died is marked failed.

A run records its owner (``host:pid``) and heartbeats in the registry every
:attr:`LeasePolicy.heartbeat` seconds from a background thread. Before a view runs,
every run of that view still recorded as ``running`` is checked
(:func:`dead_reason`): it died when its owner is a process of this host that no longer
exists, or when it has not heartbeated for :attr:`LeasePolicy.lease` (a run on another
host: an EMR driver, a laptop). Dead runs are marked ``failed`` with one conditional
``UPDATE`` each (:meth:`Registry.fail_if_unchanged`), the same on SQLite and MySQL.

Times come from the clocks of the processes (EMR and EKS hosts sync with the Amazon
Time Sync Service); the lease is many heartbeats long, so skew of seconds or a slow
registry round trip never fails a live run. A live run is never blocked: two runs of a
view are safe for the store (monotonic writes), so the lease only keeps the record honest.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType

from mlplat.registry import MaterializationRun, Registry

log = logging.getLogger("mlplat.materialize")


@dataclass(frozen=True)
class LeasePolicy:
    """How often a run says it is alive, and how long silence means it died."""

    heartbeat: float = 15.0
    """Seconds between heartbeats."""
    lease: float = 120.0
    """Seconds without a heartbeat after which a run on another host counts as dead (8 heartbeats)."""


def this_owner() -> str:
    """``host:pid`` of this process, as runs record their owner."""
    return f"{socket.gethostname()}:{os.getpid()}"


def process_exists(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host (signal 0 checks without signalling)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def dead_reason(
    run: MaterializationRun,
    now: datetime,
    policy: LeasePolicy,
    host: str,
    exists: Callable[[int], bool] = process_exists,
) -> str | None:
    """Why ``run`` (recorded as running) died, or ``None`` while it may still be running."""
    owner_host, _, pid = (run.owner or "").rpartition(":")
    if owner_host == host and pid.isdigit() and int(pid) != os.getpid() and not exists(int(pid)):
        return f"its process {run.owner} no longer exists"
    silent = now - run.last_sign_of_life
    if silent >= timedelta(seconds=policy.lease):
        owner = run.owner or "an unrecorded owner"
        return (
            f"no heartbeat from {owner} since {run.last_sign_of_life.isoformat()} "
            f"({silent.total_seconds():.0f} s, lease {policy.lease:.0f} s)"
        )
    return None


def fail_dead_runs(registry: Registry, view: str, now: datetime, policy: LeasePolicy) -> list[tuple[int, str]]:
    """Mark every dead run of ``view`` failed; the (run id, reason) of each one marked."""
    host = socket.gethostname()
    marked = []
    for run in registry.running_runs(view):
        reason = dead_reason(run, now, policy, host)
        if reason is not None and registry.fail_if_unchanged(run, f"run died: {reason}"):
            log.warning("materialization run %d of %s died (%s); marked failed", run.id, view, reason)
            marked.append((run.id, reason))
    return marked


class Heartbeat:
    """Heartbeats run ``run_id`` from a daemon thread while the ``with`` block runs."""

    def __init__(self, registry: Registry, run_id: int, policy: LeasePolicy) -> None:
        self._registry = registry
        self._run_id = run_id
        self._policy = policy
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-run-{run_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self._policy.heartbeat):
            try:
                alive = self._registry.heartbeat(self._run_id)
            except Exception as error:  # a registry blip must not end the run; the lease is many beats long
                log.warning("heartbeat of run %d failed: %s", self._run_id, error)
                continue
            if not alive:
                log.warning("run %d was marked failed by another process while it ran", self._run_id)
                return
