"""``mlplat monitor``: render a model's monitoring report (rich table, JSON, HTML, Prometheus text).

A thin shell over :func:`mlplat.monitoring.monitor.monitor`; DuckDB and the offline
libraries are imported by the command, not here.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from mlplat.console import (
    DEFAULT_ARTIFACTS,
    DEFAULT_DATA,
    DEFAULT_SPECS,
    ArtifactsOption,
    DataOption,
    DecisionLogOption,
    SpecsOption,
    err,
    fail,
    load_specs,
    out,
)
from mlplat.decision_log import DEFAULT_DECISION_LOG
from mlplat.errors import MlplatError, UsageError
from mlplat.spec.types import format_duration, parse_duration

if TYPE_CHECKING:
    from mlplat.catalog import Catalog
    from mlplat.monitoring.monitor import MonitoringReport, MonitorOptions
    from mlplat.monitoring.synthetic_decisions import Shift

_LEVEL_STYLES = {"ok": "green", "watch": "yellow", "act": "bold red", "n/a": "dim"}


class MonitorFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class MonitorEngine(StrEnum):
    DUCKDB = "duckdb"
    SPARK = "spark"


class FailOn(StrEnum):
    NEVER = "never"
    WATCH = "watch"
    ACT = "act"


def _moment(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--as-of {value!r} is not an ISO time; write e.g. 2026-06-01T00:00:00Z") from None
    if moment.tzinfo is None:
        raise UsageError(f"--as-of {value!r} has no time zone; write it with Z or an offset")
    return moment


def _duration(option: str, value: str) -> timedelta:
    try:
        return parse_duration(value)
    except ValueError as error:
        raise UsageError(f"{option}: {error}") from None


def _window(value: str | None) -> timedelta | None:
    return None if value is None else _duration("--window", value)


def _report(catalog: Catalog, model: str, options: MonitorOptions, engine: MonitorEngine) -> MonitoringReport:
    from mlplat.monitoring.monitor import monitor  # noqa: PLC0415

    if engine is MonitorEngine.DUCKDB:
        return monitor(catalog, model, options)
    from mlplat.monitoring.log_scan import readable_segments  # noqa: PLC0415
    from mlplat.monitoring.spark_aggregates import SparkAggregator  # noqa: PLC0415
    from mlplat.offline.spark_engine import local_session  # noqa: PLC0415

    session = local_session("mlplat-monitor")
    try:
        with readable_segments(Path(options.decision_log)) as files:
            return monitor(catalog, model, options, SparkAggregator(session, [str(f) for f in files]))
    finally:
        session.stop()


def monitor_command(
    model: Annotated[str, typer.Argument(help="Name of the Model spec to monitor.")],
    decision_log: DecisionLogOption = DEFAULT_DECISION_LOG,
    specs: SpecsOption = DEFAULT_SPECS,
    artifacts: ArtifactsOption = DEFAULT_ARTIFACTS,
    data: DataOption = DEFAULT_DATA,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="End of the window (ISO time with zone). Default: now.")
    ] = None,
    window: Annotated[
        str | None, typer.Option("--window", help="Window length (7d, 24h). Default: the model's monitoring.window.")
    ] = None,
    output: Annotated[
        MonitorFormat, typer.Option("--format", help="text for people, json for machines.")
    ] = MonitorFormat.TEXT,
    html: Annotated[Path | None, typer.Option("--html", help="Also write the HTML report (with charts) here.")] = None,
    metrics_file: Annotated[
        Path | None,
        typer.Option("--metrics-file", help="Also write the alerting figures here (Prometheus textfile format)."),
    ] = None,
    fail_on: Annotated[
        FailOn, typer.Option("--fail-on", help="Exit 3 when the report reaches this level (for scheduled runs).")
    ] = FailOn.NEVER,
    archive: Annotated[
        str | None,
        typer.Option(
            "--archive",
            help="Read the Firehose archive instead of a local log: s3://<decision-archive bucket>/decisions/.",
        ),
    ] = None,
    arrival_span: Annotated[
        str,
        typer.Option(
            "--arrival-span", help="With --archive: the decision stream's retention (how late an object may be named)."
        ),
    ] = "24h",
    engine: Annotated[
        MonitorEngine, typer.Option("--engine", help="duckdb on one machine; spark (local mode) over the local log.")
    ] = MonitorEngine.DUCKDB,
) -> None:
    """Monitor MODEL from its decision log: drift, approval rates, feature health, realized performance."""
    from mlplat.monitoring.html_report import render_html  # noqa: PLC0415 - see the module docstring
    from mlplat.monitoring.monitor import MonitorOptions  # noqa: PLC0415
    from mlplat.monitoring.report_data import to_json, to_prometheus  # noqa: PLC0415

    try:
        catalog = load_specs(specs)
        if archive is not None and engine is MonitorEngine.SPARK:
            raise UsageError(
                "--engine spark reads a local log; the archive is read by Spark on EMR (the scheduled job)"
            )
        if archive is not None:
            from mlplat.monitoring.archive import ArchiveLocation  # noqa: PLC0415

            ArchiveLocation.parse(archive)  # refuse anything but s3://bucket/prefix/ before reading
        span = _duration("--arrival-span", arrival_span)
        source: Path | str = archive if archive is not None else decision_log
        options = MonitorOptions(source, artifacts, data, _moment(as_of), _window(window), arrival_span=span)
        report = _report(catalog, model, options, engine)
    except MlplatError as error:
        raise fail(error) from None
    if html is not None:
        html.write_text(render_html(report), encoding="utf-8")
        err.print(f"wrote {html}")
    if metrics_file is not None:
        partial = metrics_file.with_name(metrics_file.name + ".partial")
        partial.write_bytes(to_prometheus(report))
        partial.replace(metrics_file)  # the textfile collector never reads half a file
        err.print(f"wrote {metrics_file}")
    if output is MonitorFormat.JSON:
        sys.stdout.write(json.dumps(to_json(report), indent=2) + "\n")
    else:
        _render(report)
    level = report.level.value
    if (fail_on is FailOn.ACT and level == "act") or (fail_on is FailOn.WATCH and level in ("watch", "act")):
        raise typer.Exit(3)


def _styled(level: str) -> Text:
    return Text(level, style=_LEVEL_STYLES[level])


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def _render(report: MonitoringReport) -> None:
    out.print(
        f"[bold]{report.model}[/bold] {report.window_start:%Y-%m-%d %H:%M} to {report.as_of:%Y-%m-%d %H:%M} UTC · "
        f"reference {report.reference.version} ({report.reference.sha256[:12]}) · overall ",
        _styled(report.level.value),
    )
    out.print(f"drifted (watch or act): {', '.join(report.drifted()) or 'none'}")
    for note in report.notes:
        out.print(f"note: {note}")
    volumes = Table(title="requests")
    for column in ("window", "requests", "decisions", "refusal rate", "error rate"):
        volumes.add_column(column, justify="left" if column == "window" else "right")
    for v in report.volumes:
        volumes.add_row(
            v.period, f"{v.requests:,}", f"{v.decisions:,}", _fmt(v.refusal_rate, ".2%"), _fmt(v.error_rate, ".2%")
        )
    out.print(volumes)
    rates = Table(title="approval rate by version")
    for column in ("version", "role", "decisions", "approval", "previous", "shift", "level"):
        rates.add_column(column, justify="left" if column in ("version", "role", "level") else "right")
    for r in report.rates:
        rates.add_row(
            r.version,
            r.role,
            f"{r.decisions:,}",
            _fmt(r.approval_rate, ".1%"),
            _fmt(r.previous_approval_rate, ".1%"),
            _fmt(r.shift),
            _styled(r.level.value),
        )
    out.print(rates)
    out.print(_stability(report))
    _render_performance(report)


def _stability(report: MonitoringReport) -> Table:
    health = {h.ref: h for h in report.health}
    table = Table(title="stability (PSI) and feature health")
    for column in ("input", "PSI vs reference", "PSI vs previous", "level", "missing", "stale", "default"):
        table.add_column(column, justify="left" if column in ("input", "level") else "right")
    for d in (*report.scores, *report.inputs):
        h = health.get(d.name)
        table.add_row(
            d.name,
            _fmt(d.psi_reference),
            _fmt(d.psi_previous),
            _styled(d.level.value),
            _fmt(h.missing_share if h else None, ".1%"),
            _fmt(h.stale_share if h else None, ".1%"),
            _fmt(h.default_share if h else None, ".1%"),
        )
    return table


def _render_performance(report: MonitoringReport) -> None:
    performance = report.performance
    if performance is None or not performance.months:
        out.print(f"realized performance: {performance.note if performance else 'no label source'}")
        return
    table = Table(
        title=f"realized performance ({performance.label}, matured after {format_duration(performance.label_window)})"
    )
    for column in ("decision month", "matured", "with outcome", "bad rate", "AUC", "KS"):
        table.add_column(column, justify="left" if column == "decision month" else "right")
    for m in performance.months:
        table.add_row(
            m.month, f"{m.matured:,}", f"{m.with_outcome:,}", _fmt(m.bad_rate, ".2%"), _fmt(m.auc), _fmt(m.ks)
        )
    out.print(table)


def simulate_decisions_command(
    model: Annotated[str, typer.Argument(help="Name of the Model spec whose decisions to simulate.")],
    start: Annotated[str, typer.Option("--start", help="First day (ISO date with zone, e.g. 2026-06-01T00:00:00Z).")],
    decision_log: DecisionLogOption = Path(".mlplat/simulated/decisions"),
    outcomes: Annotated[
        Path, typer.Option("--outcomes", help="Offline root to write the decisions' outcomes into (the label source).")
    ] = Path(".mlplat/simulated/outcomes"),
    specs: SpecsOption = DEFAULT_SPECS,
    artifacts: ArtifactsOption = DEFAULT_ARTIFACTS,
    data: DataOption = DEFAULT_DATA,
    days: Annotated[int, typer.Option(help="Days of decisions.")] = 150,
    per_day: Annotated[int, typer.Option("--per-day", help="Decisions per day.")] = 200,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed writes the same log.")] = 7,
    shadow: Annotated[str | None, typer.Option(help="A version to score beside the primary.")] = None,
    shift: Annotated[
        list[str] | None,
        typer.Option(help="Planted drift REF:FACTOR:OFFSET:DAY (present values times FACTOR plus OFFSET from DAY on)."),
    ] = None,
) -> None:
    """Write a seeded decision log of MODEL (and its outcomes) from --data, to try `mlplat monitor` on."""
    from mlplat.monitoring.synthetic_decisions import SimulationConfig, simulate  # noqa: PLC0415

    try:
        first = _moment(start)
        config = SimulationConfig(
            first, days, per_day, seed, tuple(_shift(s, first) for s in shift or ()), shadow=shadow
        )
        result = simulate(load_specs(specs), model, data, artifacts, decision_log, outcomes, config)
    except MlplatError as error:
        raise fail(error) from None
    out.print(
        f"{result.decisions:,} decisions, {result.records:,} records in {result.segments} segment(s) of {decision_log}"
    )
    out.print(f"outcomes {result.outcomes_path}")


def _shift(text: str, start: datetime) -> Shift:
    from mlplat.monitoring.synthetic_decisions import Shift  # noqa: PLC0415

    parts = text.rsplit(":", 3)
    try:
        ref, factor, offset, day = parts[0], float(parts[1]), float(parts[2]), int(parts[3])
    except (IndexError, ValueError):
        raise UsageError(
            f"--shift {text!r}: write REF:FACTOR:OFFSET:DAY, e.g. bureau_profile:fico_score:1:-60:143"
        ) from None
    return Shift(ref, start + timedelta(days=day), factor, offset)


def outcomes_command(
    model: Annotated[str, typer.Argument(help="Name of the Model spec whose logged decisions get outcomes.")],
    decision_log: DecisionLogOption = DEFAULT_DECISION_LOG,
    outcomes: Annotated[
        Path, typer.Option("--outcomes", help="Offline root to write the outcomes into (the label source's file).")
    ] = Path(".mlplat/outcomes"),
    specs: SpecsOption = DEFAULT_SPECS,
    seed: Annotated[int, typer.Option(help="Random seed; the same log and seed give the same outcomes.")] = 7,
) -> None:
    """Write outcomes of MODEL's logged decisions from the synthetic ground truth (local platform only)."""
    from mlplat.monitoring.logged_outcomes import write_logged_outcomes  # noqa: PLC0415

    try:
        written = write_logged_outcomes(load_specs(specs), model, decision_log, outcomes, seed)
    except MlplatError as error:
        raise fail(error) from None
    out.print(f"{written.decisions:,} outcomes ({written.positives:,} positive) in {written.path}")


def send_decisions_command(
    model: Annotated[str, typer.Argument(help="Name of the Model spec to ask for decisions.")],
    count: Annotated[int, typer.Option(help="How many applications to send.")] = 1000,
    url: Annotated[
        str | None, typer.Option(help="The running model server. Default: `mlplat up`'s (port 8080).")
    ] = None,
    token: Annotated[
        Path | None,
        typer.Option(help="A caller's token file. Default: `mlplat up`'s token of the model's first caller."),
    ] = None,
    specs: SpecsOption = DEFAULT_SPECS,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            envvar="MLPLAT_OFFLINE_ROOT",
            help="Offline root to draw applications from. Default: today's live data of `mlplat up`.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the applications drawn.")] = 7,
) -> None:
    """Send COUNT applications from the live data to a running model server (demo traffic for `mlplat up`)."""
    import os  # noqa: PLC0415

    from mlplat.local_platform import LocalSettings, live_data_dir, today_utc  # noqa: PLC0415
    from mlplat.local_traffic import application_requests, send_decisions  # noqa: PLC0415

    settings = LocalSettings.from_environment(Path().resolve(), os.environ)
    try:
        if not 1 <= count <= 1_000_000:
            raise UsageError(f"--count {count}: send between 1 and 1000000 applications")
        catalog = load_specs(specs)
        requests = application_requests(catalog, model, data or live_data_dir(settings, today_utc()), count, seed)
        token = token or _caller_token(catalog, model, settings.identity_dir)
        secret = token.read_text(encoding="utf-8").strip() if token is not None else None
        sent = send_decisions(url or settings.model_url, model, requests, secret)
    except MlplatError as error:
        raise fail(error) from None
    except OSError as error:
        raise fail(UsageError(f"cannot reach the model server ({error}); is `mlplat up` running?")) from None
    out.print(f"sent {sent.sent:,}: status {sent.statuses}, decisions {sent.decisions}")


def _caller_token(catalog: Catalog, model: str, identity_dir: Path) -> Path | None:
    """`mlplat up`'s token file of the first caller allowed to decide with ``model``, if there is one."""
    for caller in catalog.model(model).spec.serving.callers:
        path = identity_dir / "tokens" / f"{caller}.token"
        if path.is_file():
            return path
    return None
