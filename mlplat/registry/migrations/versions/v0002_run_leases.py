"""Materialization runs carry their owner and a heartbeat, so a run that died can be told from one that runs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Frozen here on purpose: a migration must keep meaning what it meant when it shipped.
DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    with op.batch_alter_table("materialization_runs") as batch:
        batch.add_column(sa.Column("owner", sa.String(255), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", DATETIME, nullable=True))
        batch.create_index("ix_materialization_runs_view_status", ["view", "status"])


def downgrade() -> None:
    with op.batch_alter_table("materialization_runs") as batch:
        batch.drop_index("ix_materialization_runs_view_status")
        batch.drop_column("heartbeat_at")
        batch.drop_column("owner")
