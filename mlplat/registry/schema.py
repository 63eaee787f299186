"""The registry database's tables, as SQLAlchemy Core metadata (the current schema).

Migrations under ``migrations/versions`` build this schema step by step; a test checks
that upgrading an empty database to head gives exactly these tables.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect

#: DATETIME with microseconds on MySQL/MariaDB (their default keeps whole seconds).
PRECISE_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out; stored naive in UTC (MySQL has no zones)."""

    impl = PRECISE_DATETIME
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"registry times must be timezone-aware; got naive {value.isoformat()}")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


metadata = sa.MetaData()

materialization_runs = sa.Table(
    "materialization_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("view", sa.String(64), nullable=False, index=True),
    sa.Column("window_start", UtcDateTime, nullable=False),
    sa.Column("window_end", UtcDateTime, nullable=False),
    sa.Column("engine", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("rows_written", sa.BigInteger, nullable=False, default=0),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("owner", sa.String(255), nullable=True),
    sa.Column("heartbeat_at", UtcDateTime, nullable=True),
    sa.Index("ix_materialization_runs_view_status", "view", "status"),
)

watermarks = sa.Table(
    "watermarks",
    metadata,
    sa.Column("view", sa.String(64), primary_key=True),
    sa.Column("watermark", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(64), nullable=False),
    sa.Column("version", sa.String(16), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("artifact_uri", sa.String(512), nullable=False),
    sa.Column("metrics", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("model", "version", name="uq_model_versions_model_version"),
)
