"""The counts of a report window with DuckDB, from decision-log files on this machine.

Implements :class:`mlplat.monitoring.aggregates.Aggregator` over JSON-lines files (the
local log's segments, or Firehose archive objects, gzip-compressed or not). The SQL is
built from our own names, quoted literals and float literals only (hence the ``S608``
waivers); values from the log never become SQL text.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb

from mlplat.monitoring.aggregates import (
    DailyRow,
    InputRow,
    MaturedRow,
    OutcomeQuery,
    OutcomeRow,
    RateRow,
    ScoreRow,
    VolumeRow,
    WindowAggregates,
    WindowQuery,
)
from mlplat.monitoring.log_scan import MATURED, TABLE, load_decisions
from mlplat.offline.duckdb_engine import literal, quote

#: Which version took (or shadowed) a record.
ROLE = "CASE WHEN kind = 'shadow' THEN 'shadow' WHEN canary THEN 'canary' ELSE 'primary' END"


def period_column(current_start: str) -> str:
    """SQL naming each record's period, given the current window's start as a timestamp literal."""
    return f"CASE WHEN time >= {current_start}::TIMESTAMPTZ THEN 'current' ELSE 'previous' END"


def bin_expression(value: str, edges: Sequence[float]) -> str:
    """SQL of the bin index of ``value`` (0 .. len(edges)); edges are our own floats, written as literals."""
    if not edges:
        return "0"
    cases = " ".join(f"WHEN {value} <= {float(edge)!r} THEN {i}" for i, edge in enumerate(edges))
    return f"CASE {cases} ELSE {len(edges)} END"


class DuckDBAggregator:
    """Counts with an in-process DuckDB over ``files`` (JSON lines, ``.gz`` ones decompressed)."""

    def __init__(self, files: Sequence[Path]) -> None:
        self._files = list(files)

    def aggregate(self, query: WindowQuery) -> WindowAggregates:
        connection = duckdb.connect()
        try:
            refs = list(query.inputs)
            load_decisions(connection, self._files, TABLE, query.model, refs, query.previous_start, query.as_of)
            periods = period_column(literal(query.current_start.isoformat()))
            matured: list[MaturedRow] = []
            outcomes: list[OutcomeRow] = []
            if query.outcomes is not None:
                window = query.outcomes
                load_decisions(connection, self._files, MATURED, query.model, [], window.since, window.matured_by)
                matured, outcomes = _performance(connection, window)
            return WindowAggregates(
                {ref: _input_rows(connection, periods, ref, edges) for ref, edges in query.inputs.items()},
                {version: _score_rows(connection, periods, version, e) for version, e in query.scores.items()},
                _rate_rows(connection, periods),
                _daily_rows(connection),
                _volume_rows(connection, periods),
                matured,
                outcomes,
            )
        finally:
            connection.close()


def _input_rows(
    connection: duckdb.DuckDBPyConnection, periods: str, ref: str, edges: Sequence[float]
) -> list[InputRow]:
    feature = f"features[{literal(ref)}]"
    served = f"{feature}.source IN ('store', 'request')"
    index = f"CASE WHEN {served} THEN {bin_expression(f'{feature}.value', edges)} ELSE -1 END"
    missing = f"{feature}.status = 'NOT_FOUND' OR ({feature}.status = 'PRESENT' AND NOT {served})"
    # A request value has no status: a NULL comparison counts as false, not as NULL.
    flags = ", ".join(
        f"coalesce({c}, false)"
        for c in (missing, f"{feature}.status = 'OUTSIDE_MAX_AGE'", f"{feature}.source = 'default'")
    )
    rows = connection.execute(
        f"SELECT {periods} AS period, {index} AS bin, {flags}, count(*) FROM {TABLE} "  # noqa: S608
        "WHERE kind IN ('decision', 'refusal') GROUP BY ALL"
    ).fetchall()
    return [(str(p), int(b), bool(m), bool(s), bool(d), int(n)) for p, b, m, s, d, n in rows]


def _score_rows(
    connection: duckdb.DuckDBPyConnection, periods: str, version: str, edges: Sequence[float]
) -> list[ScoreRow]:
    rows = connection.execute(
        f"SELECT {periods} AS period, {bin_expression('score', edges)} AS bin, count(*) FROM {TABLE} "  # noqa: S608
        "WHERE kind IN ('decision', 'shadow') AND score IS NOT NULL AND version = ? GROUP BY ALL",
        [version],
    ).fetchall()
    return [(str(p), int(b), int(n)) for p, b, n in rows]


def _rate_rows(connection: duckdb.DuckDBPyConnection, periods: str) -> list[RateRow]:
    rows = connection.execute(
        f"SELECT version, {ROLE} AS role, {periods} AS period, count(*), count_if(decision = 'approve') "  # noqa: S608
        f"FROM {TABLE} WHERE kind IN ('decision', 'shadow') GROUP BY ALL"
    ).fetchall()
    return [(str(v), str(r), str(p), int(n), int(a)) for v, r, p, n, a in rows]


def _daily_rows(connection: duckdb.DuckDBPyConnection) -> list[DailyRow]:
    rows = connection.execute(
        f"SELECT CAST(time AS DATE) AS day, version, {ROLE} AS role, count(*), count_if(decision = 'approve') "  # noqa: S608
        f"FROM {TABLE} WHERE kind IN ('decision', 'shadow') GROUP BY ALL"
    ).fetchall()
    return [(day, str(v), str(r), int(n), int(a)) for day, v, r, n, a in rows]


def _volume_rows(connection: duckdb.DuckDBPyConnection, periods: str) -> list[VolumeRow]:
    rows = connection.execute(
        f"SELECT {periods} AS period, count(*), count_if(kind = 'decision'), count_if(kind = 'refusal'), "  # noqa: S608
        f"count_if(kind = 'error') FROM {TABLE} WHERE kind != 'shadow' GROUP BY ALL"
    ).fetchall()
    return [(str(p), int(a), int(b), int(c), int(d)) for p, a, b, c, d in rows]


def _outcomes_sql(source: OutcomeQuery) -> str:
    """The latest outcome per decision id recorded by the as-of time."""
    micros = int(source.label_window.total_seconds() * 1_000_000)
    recorded = (
        quote(source.recorded_field)
        if source.recorded_field
        else f"{quote(source.time_field)} + to_microseconds({micros})"
    )
    return (
        f"SELECT decision_id, CAST({quote(source.label)} AS INT) AS label "  # noqa: S608
        f"FROM read_parquet({literal(source.path)}) WHERE {recorded} <= {literal(source.as_of.isoformat())}::TIMESTAMPTZ "
        f"QUALIFY row_number() OVER (PARTITION BY decision_id ORDER BY {recorded} DESC) = 1"
    )


def _performance(
    connection: duckdb.DuckDBPyConnection, source: OutcomeQuery
) -> tuple[list[MaturedRow], list[OutcomeRow]]:
    month = "strftime(d.time, '%Y-%m')"
    matured = connection.execute(
        f"SELECT {month} AS month, count(*) FROM {MATURED} d WHERE d.kind = 'decision' GROUP BY ALL"  # noqa: S608
    ).fetchall()
    known = connection.execute(
        f"SELECT {month} AS month, d.score, sum(o.label), count(*) - sum(o.label) FROM {MATURED} d "  # noqa: S608
        f"JOIN ({_outcomes_sql(source)}) o ON o.decision_id = d.id "
        "WHERE d.kind = 'decision' AND o.label IS NOT NULL GROUP BY ALL"
    ).fetchall()
    return (
        [(str(m), int(n)) for m, n in matured],
        [(str(m), float(s), int(b), int(g)) for m, s, b, g in known],
    )
