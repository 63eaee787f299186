"""The decision log as a DuckDB table: one model's records of a time range, typed.

Closed segments are read in place; a segment still preallocated (the active one, or one
a crash left) is copied without its zero padding to a scratch directory first, since
the padding is not JSON. Lines that do not parse (a record torn by a crash) are
skipped, as :func:`mlplat.decision_log.read_decision_log` skips them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import duckdb

from mlplat.decision_log import ends_in_padding, segments
from mlplat.errors import UsageError
from mlplat.offline.duckdb_engine import literal, quote

#: The table of a report's two windows, which drift, rates and volumes read.
TABLE = "decisions"
#: The table of decisions old enough for their outcomes, which realized performance reads.
MATURED = "matured"
_FEATURE = "STRUCT(value DOUBLE, source VARCHAR, status VARCHAR)"


def columns_sql(refs: Sequence[str]) -> str:
    """The typed ``columns`` argument of ``read_json`` for records with inputs ``refs``."""
    features = ", ".join(f"{quote(ref)} {_FEATURE}" for ref in refs) or "x VARCHAR"
    columns = {
        "id": "VARCHAR",
        "time": "TIMESTAMPTZ",
        "model": "VARCHAR",
        "kind": "VARCHAR",
        "version": "VARCHAR",
        "sha256": "VARCHAR",
        "canary": "BOOLEAN",
        "decision": "VARCHAR",
        "score": "DOUBLE",
        "features": f"STRUCT({features})",
    }
    return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in columns.items()) + "}"


@contextmanager
def readable_segments(directory: Path) -> Iterator[list[Path]]:
    """The log's segment files as DuckDB can read them (padded ones copied without their padding)."""
    if not directory.is_dir():
        raise UsageError(f"{directory} is not a decision log directory; pass the model server's MLPLAT_DECISION_LOG")
    with tempfile.TemporaryDirectory(prefix="mlplat-monitor-") as scratch:
        files = []
        for number, path in segments(directory):
            readable = path
            if ends_in_padding(path):
                readable = Path(scratch) / f"decisions-{number:08d}.jsonl"
                readable.write_bytes(path.read_bytes().rstrip(b"\0"))
            if readable.stat().st_size > 0:
                files.append(readable)
        if not files:  # an empty log: one empty file gives the table its columns and no rows
            files.append(Path(scratch) / "empty.jsonl")
            files[0].write_bytes(b"")
        yield files


def load_decisions(
    connection: duckdb.DuckDBPyConnection,
    files: Sequence[Path],
    table: str,
    model: str,
    refs: Sequence[str],
    since: datetime,
    until: datetime,
) -> int:
    """Create ``table`` with ``model``'s records of ``[since, until)`` (their inputs ``refs``), each once; how many."""
    connection.execute("SET TimeZone = 'UTC'")
    paths = "[" + ", ".join(literal(str(p)) for p in files) + "]"
    # A record delivered twice (the stream and Firehose deliver at least once) counts once.
    connection.execute(
        f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM read_json({paths}, format = 'newline_delimited', "  # noqa: S608 - literals and quoted names
        f"ignore_errors = true, columns = {columns_sql(refs)}) WHERE model = ? AND time >= ? AND time < ? "
        "QUALIFY row_number() OVER (PARTITION BY id, kind, version) = 1",
        [model, since, until],
    )
    row = connection.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608 - our table name
    return int(row[0]) if row else 0
