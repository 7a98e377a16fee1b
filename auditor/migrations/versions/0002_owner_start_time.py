"""Record the start time of the process that owns a daemon row or a workflow lease.

With the pid alone, a pid reused by an unrelated process kept a dead daemon "alive" (and a dead
lease holder's run blocked); `auditor.liveness` compares the start time as the backup catalogue
already did.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN (nullable, no default) needs no table copy on SQLite
    op.add_column("scheduler_daemons", sa.Column("pid_start", sa.String(length=32), nullable=True))
    op.add_column("workflow_runs", sa.Column("lease_pid_start", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workflow_runs") as batch:
        batch.drop_column("lease_pid_start")
    with op.batch_alter_table("scheduler_daemons") as batch:
        batch.drop_column("pid_start")
