"""Materialization runs, watermarks per view, model versions.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen here on purpose: a migration must keep meaning what it meant when it shipped.
DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "materialization_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("view", sa.String(64), nullable=False),
        sa.Column("window_start", DATETIME, nullable=False),
        sa.Column("window_end", DATETIME, nullable=False),
        sa.Column("engine", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rows_written", sa.BigInteger, nullable=False),
        sa.Column("started_at", DATETIME, nullable=False),
        sa.Column("finished_at", DATETIME, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
    )
    op.create_index("ix_materialization_runs_view", "materialization_runs", ["view"])
    op.create_table(
        "watermarks",
        sa.Column("view", sa.String(64), primary_key=True),
        sa.Column("watermark", DATETIME, nullable=False),
        sa.Column("updated_at", DATETIME, nullable=False),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("version", sa.String(16), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("artifact_uri", sa.String(512), nullable=False),
        sa.Column("metrics", sa.Text, nullable=False),
        sa.Column("created_at", DATETIME, nullable=False),
        sa.UniqueConstraint("model", "version", name="uq_model_versions_model_version"),
    )


def downgrade() -> None:
    op.drop_table("model_versions")
    op.drop_table("watermarks")
    op.drop_index("ix_materialization_runs_view", "materialization_runs")
    op.drop_table("materialization_runs")
