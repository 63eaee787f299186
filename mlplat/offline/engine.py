"""Which engine runs offline work, and the batch size of online-store writes.

Kept apart from the engines themselves so the command line can offer them as options
without importing pyarrow, DuckDB or SQLAlchemy: the service images ship the CLI but
none of the offline libraries.
"""

from __future__ import annotations

from enum import StrEnum


class Engine(StrEnum):
    """Where offline work runs."""

    DUCKDB = "duckdb"
    SPARK = "spark"


#: Rows per online-store write batch.
DEFAULT_BATCH_ROWS = 10_000
