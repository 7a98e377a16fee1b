"""Alembic migrations of the state database: one history for every table on `auditor.state.metadata`.

Applied by `auditor.state.StateDB.ensure_schema()` (on first use, under a lock) and by
`blastwall state upgrade`. A new migration: `.venv/bin/python -m auditor.migrations revision "message"`.
"""
