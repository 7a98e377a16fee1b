"""Signed approvals: each decision keeps the statement it signed and its SSH signature; a run records
how its decisions are authenticated and the requester's signed request (two-person rule).

All columns are nullable: decisions recorded before this version have no signature, and count for
nothing under the default `[approvals] mode = "signed"` (they are listed as unverified by `runs show`).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("workflow_runs", sa.Column("approvals_mode", sa.String(length=16), nullable=True))
    op.add_column("workflow_runs", sa.Column("request_statement", sa.Text(), nullable=True))
    op.add_column("workflow_runs", sa.Column("request_signature", sa.Text(), nullable=True))
    op.add_column("workflow_decisions", sa.Column("statement", sa.Text(), nullable=True))
    op.add_column("workflow_decisions", sa.Column("signature", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workflow_decisions") as batch:
        batch.drop_column("signature")
        batch.drop_column("statement")
    with op.batch_alter_table("workflow_runs") as batch:
        batch.drop_column("request_signature")
        batch.drop_column("request_statement")
        batch.drop_column("approvals_mode")
