"""Alembic environment: migrations always run on a connection that `auditor.state` opened and locked."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only `auditor.state` runs migrations
    raise RuntimeError("run Blastwall migrations with `blastwall state upgrade`, not the alembic command")

context.configure(
    connection=connection,
    target_metadata=context.config.attributes.get("target_metadata"),
    render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
