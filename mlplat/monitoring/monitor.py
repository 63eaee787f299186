"""``mlplat monitor``: one model's report over a window of its decision log.

:func:`monitor` loads the window and the one before it from the log into DuckDB, reads
the reference profile of each serving version (``profile.json`` beside its artifact,
checked against the spec's sha256), and returns a :class:`MonitoringReport`: drift of
every input and of each version's score, feature health, approval rate per version and
role, volumes, and realized performance. It never prints; the CLI and the HTML and
metrics writers render the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath

import duckdb

from mlplat.catalog import Catalog
from mlplat.errors import UsageError
from mlplat.models.loading import serving_versions
from mlplat.monitoring.drift import (
    DailyRate,
    Distribution,
    Health,
    VersionRate,
    Volume,
    approval_rates,
    daily_rates,
    input_drift,
    period_column,
    score_drift,
    volumes,
)
from mlplat.monitoring.log_scan import MATURED, TABLE, load_decisions, readable_segments
from mlplat.monitoring.performance import OutcomeSource, Performance, check_outcome_source, realized_performance
from mlplat.monitoring.profile import PROFILE_NAME, Profile, read_profile
from mlplat.monitoring.stability import Level, worst
from mlplat.offline.duckdb_engine import literal
from mlplat.spec.kinds import Monitoring

#: How far back realized performance looks, before the label window.
PERFORMANCE_MONTHS = timedelta(days=365)


@dataclass(frozen=True)
class MonitorOptions:
    """What a report reads and for which time."""

    decision_log: Path
    """The model server's decision log directory (``MLPLAT_DECISION_LOG``)."""
    artifact_root: Path
    """Where the versions' artifacts and profiles are."""
    data_root: Path
    """Offline root: the label source resolves below it."""
    as_of: datetime
    """End of the report's window (excluded); no outcome recorded after it is used."""
    window: timedelta | None = None
    """Left out: the model's ``monitoring.window``."""


@dataclass(frozen=True)
class MonitoringReport:
    """Everything one report says about one model."""

    model: str
    as_of: datetime
    window_start: datetime
    previous_start: datetime
    monitoring: Monitoring
    reference: Profile
    """The primary version's profile: the inputs' reference."""
    volumes: tuple[Volume, ...]
    inputs: tuple[Distribution, ...]
    scores: tuple[Distribution, ...]
    health: tuple[Health, ...]
    rates: tuple[VersionRate, ...]
    daily: tuple[DailyRate, ...]
    performance: Performance | None
    notes: tuple[str, ...]

    @property
    def level(self) -> Level:
        """The most severe level of any figure."""
        return worst([d.level for d in (*self.inputs, *self.scores)] + [r.level for r in self.rates])

    def drifted(self, at: Level = Level.WATCH) -> list[str]:
        """Inputs and scores at ``at`` or worse, most severe first."""
        rank = {Level.ACT: 0, Level.WATCH: 1}
        flagged = [d for d in (*self.inputs, *self.scores) if d.level in rank and rank[d.level] <= rank[at]]
        return [d.name for d in sorted(flagged, key=lambda d: (rank[d.level], -(d.psi_reference or 0.0)))]


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise UsageError(f"--as-of {moment.isoformat()} has no time zone; write it with Z or an offset")
    return moment


def profiles(catalog: Catalog, model: str, artifact_root: Path) -> tuple[dict[str, Profile], list[str]]:
    """The profile of each version that has one (the primary must); notes for serving versions without one."""
    spec = catalog.model(model).spec
    serving = serving_versions(catalog, model)
    found, notes = {}, []
    for entry in spec.versions:
        path = artifact_root / PurePosixPath(entry.artifact.uri).parent / PROFILE_NAME
        if not path.is_file() and entry.name != spec.rollout.primary:
            if entry.name in serving:
                notes.append(
                    f"version {entry.name} has no profile ({path}): its score is not compared with a reference"
                )
            continue
        found[entry.name] = read_profile(path, entry.artifact.sha256)
    return found, notes


def monitor(catalog: Catalog, model: str, options: MonitorOptions) -> MonitoringReport:
    """The report of ``model`` for the window ending at ``options.as_of``."""
    spec = catalog.model(model).spec
    as_of = _as_utc(options.as_of)
    window = options.window or spec.monitoring.window
    start, previous_start = as_of - window, as_of - 2 * window
    found, notes = profiles(catalog, model, options.artifact_root)
    reference = found[spec.rollout.primary]
    source = OutcomeSource.of(catalog, model, options.data_root)
    if source is not None:
        check_outcome_source(source)
    connection = duckdb.connect()
    try:
        with readable_segments(options.decision_log) as files:
            refs = list(spec.features)
            load_decisions(connection, files, TABLE, model, refs, previous_start, as_of)
            if source is not None:
                since = as_of - source.label_window - PERFORMANCE_MONTHS
                load_decisions(connection, files, MATURED, model, [], since, as_of - source.label_window)
        periods = period_column(literal(start.isoformat()))
        thresholds = spec.monitoring
        inputs, health = input_drift(connection, periods, reference.inputs, thresholds.psi)
        scores = score_drift(connection, periods, {v: p.score for v, p in found.items()}, thresholds.psi)
        performance = None if source is None else realized_performance(connection, source, as_of, reference.score.edges)
        return MonitoringReport(
            model,
            as_of,
            start,
            previous_start,
            spec.monitoring,
            reference,
            tuple(volumes(connection, periods)),
            tuple(inputs),
            tuple(scores),
            tuple(health),
            tuple(approval_rates(connection, periods, thresholds.approval_rate_shift)),
            tuple(daily_rates(connection)),
            performance,
            tuple(notes),
        )
    finally:
        connection.close()
