"""``mlplat monitor``: one model's report over a window of its decision log.

:func:`monitor` loads the window and the one before it from the log into DuckDB, reads
the reference profile of each serving version (``profile.json`` beside its artifact,
checked against the spec's sha256), and returns a :class:`MonitoringReport`: drift of
every input and of each version's score, feature health, approval rate per version and
role, volumes, and realized performance. It never prints; the CLI and the HTML and
metrics writers render the report.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath

from mlplat.catalog import Catalog
from mlplat.errors import UsageError
from mlplat.models.loading import serving_versions
from mlplat.monitoring.aggregates import Aggregator, WindowAggregates, WindowQuery
from mlplat.monitoring.archive import DEFAULT_ARRIVAL_SPAN
from mlplat.monitoring.drift import (
    DailyRate,
    Distribution,
    Health,
    VersionRate,
    Volume,
    approval_rates,
    daily_rates,
    input_drift,
    score_drift,
    volumes,
)
from mlplat.monitoring.performance import OutcomeSource, Performance, outcome_gap, realized_performance
from mlplat.monitoring.profile import PROFILE_NAME, Profile, read_profile
from mlplat.monitoring.stability import Level, worst
from mlplat.spec.kinds import Monitoring

#: How far back realized performance looks, before the label window.
PERFORMANCE_MONTHS = timedelta(days=365)


@dataclass(frozen=True)
class MonitorOptions:
    """What a report reads and for which time."""

    decision_log: Path | str
    """The model server's decision log directory (``MLPLAT_DECISION_LOG``), or its S3 archive
    ``s3://<decision-archive bucket>/decisions/`` (read with DuckDB when no engine is given)."""
    artifact_root: Path
    """Where the versions' artifacts and profiles are."""
    data_root: Path | str
    """Offline root (a directory or ``s3://`` prefix): the label source resolves below it."""
    as_of: datetime
    """End of the report's window (excluded); no outcome recorded after it is used."""
    window: timedelta | None = None
    """Left out: the model's ``monitoring.window``."""
    arrival_span: timedelta = DEFAULT_ARRIVAL_SPAN
    """Reading the S3 archive: how long before a record its object's oldest record may have
    arrived (:mod:`mlplat.monitoring.archive`). Left out: 24 h, the stream's default retention."""


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


@dataclass(frozen=True)
class WindowPlan:
    """What one report counts and compares with: the engine's query and the versions' profiles."""

    query: WindowQuery
    profiles: dict[str, Profile]
    outcomes: OutcomeSource | None
    notes: tuple[str, ...]
    performance_note: str | None
    """Why realized performance is not counted (no label source file, no decision ids), if it is not."""

    def ranges(self) -> list[tuple[datetime, datetime]]:
        """The time ranges the engine reads records of: the two windows and, with outcomes, the matured decisions."""
        query = self.query
        found = [(query.previous_start, query.as_of)]
        if query.outcomes is not None:
            found.append((query.outcomes.since, query.outcomes.matured_by))
        return found


def plan_window(catalog: Catalog, model: str, options: MonitorOptions) -> WindowPlan:
    """The query and references of ``model``'s report for the window ending at ``options.as_of``."""
    spec = catalog.model(model).spec
    as_of = _as_utc(options.as_of)
    window = options.window or spec.monitoring.window
    found, notes = profiles(catalog, model, options.artifact_root)
    reference = found[spec.rollout.primary]
    source = OutcomeSource.of(catalog, model, options.data_root)
    gap = None if source is None else outcome_gap(source)
    outcomes = None
    if source is not None and gap is None:
        outcomes = source.query(as_of, as_of - source.label_window - PERFORMANCE_MONTHS)
    query = WindowQuery(
        model,
        previous_start=as_of - 2 * window,
        current_start=as_of - window,
        as_of=as_of,
        inputs={ref: binned.edges for ref, binned in reference.inputs.items()},
        scores={version: profile.score.edges for version, profile in found.items()},
        outcomes=outcomes,
    )
    return WindowPlan(query, found, source, tuple(notes), gap)


def build_report(catalog: Catalog, plan: WindowPlan, counts: WindowAggregates) -> MonitoringReport:
    """The report of ``plan`` from an engine's ``counts``: every figure, computed here once for all engines."""
    query = plan.query
    spec = catalog.model(query.model).spec
    thresholds = spec.monitoring
    reference = plan.profiles[spec.rollout.primary]
    inputs, health = input_drift(counts.inputs, reference.inputs, thresholds.psi)
    scores = score_drift(counts.scores, {v: p.score for v, p in plan.profiles.items()}, thresholds.psi)
    performance = None
    if plan.outcomes is not None:
        performance = (
            Performance(plan.outcomes.label, plan.outcomes.label_window, (), plan.performance_note)
            if plan.performance_note
            else realized_performance(plan.outcomes, counts.matured, counts.outcomes, reference.score.edges)
        )
    return MonitoringReport(
        query.model,
        query.as_of,
        query.current_start,
        query.previous_start,
        spec.monitoring,
        reference,
        tuple(volumes(counts.volumes)),
        tuple(inputs),
        tuple(scores),
        tuple(health),
        tuple(approval_rates(counts.rates, thresholds.approval_rate_shift)),
        tuple(daily_rates(counts.daily)),
        performance,
        plan.notes,
    )


@contextmanager
def duckdb_over(decision_log: Path | str, plan: WindowPlan, arrival_span: timedelta) -> Iterator[Aggregator]:
    """DuckDB over the local log's segments, or over the archive objects that can hold the plan's ranges."""
    from mlplat.monitoring.duckdb_aggregates import DuckDBAggregator  # noqa: PLC0415 - DuckDB only when counting

    if isinstance(decision_log, Path) or not decision_log.startswith("s3://"):
        from mlplat.monitoring.log_scan import readable_segments  # noqa: PLC0415

        with readable_segments(Path(decision_log)) as files:
            yield DuckDBAggregator(files)
        return
    import boto3  # noqa: PLC0415 - only the archive needs it

    from mlplat.monitoring.archive import ArchiveLocation, downloaded, window_keys  # noqa: PLC0415

    location = ArchiveLocation.parse(decision_log)
    client = boto3.client("s3")
    with downloaded(client, location, window_keys(client, location, plan.ranges(), arrival_span)) as files:
        yield DuckDBAggregator(files)


def monitor(
    catalog: Catalog, model: str, options: MonitorOptions, aggregator: Aggregator | None = None
) -> MonitoringReport:
    """The report of ``model`` for the window ending at ``options.as_of``, counted by ``aggregator``.

    Left out, DuckDB counts ``options.decision_log`` (a local log or the S3 archive).
    """
    plan = plan_window(catalog, model, options)
    if aggregator is not None:
        return build_report(catalog, plan, aggregator.aggregate(plan.query))
    with duckdb_over(options.decision_log, plan, options.arrival_span) as engine:
        return build_report(catalog, plan, engine.aggregate(plan.query))
