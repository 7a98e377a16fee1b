"""SQLAlchemy declarations of the audit-history and backup-catalogue tables, on `auditor.state.metadata`.

The schema's source of truth is the migration history (``auditor/migrations/versions``); these declarations
must match it (``tests/state/test_migrations.py``). The code that reads and writes these tables
(``auditor/history.py``, ``auditor/backup/catalog.py``) uses plain SQL through ``StateDB.sql()``, so the
commands users run most never import SQLAlchemy; ``tests/state/test_state_sql.py`` checks that the column
kinds those modules declare match the types here.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from .state import metadata

__all__ = ["audit_findings_table", "audits_table", "backup_runs", "backup_verifications", "store_checks"]

audits_table = Table(
    "audits",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("generated_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("tool_version", String(64), nullable=False, default=""),
    Column("scope", Text, nullable=False, default="{}"),
    Column("n_findings", Integer, nullable=False, default=0),
    Column("n_credentials", Integer, nullable=False, default=0),
    Column("n_root_equivalent", Integer, nullable=False, default=0),
    Index("ix_audits_generated_at", "generated_at"),
)

audit_findings_table = Table(
    "audit_findings",
    metadata,
    Column("audit_id", String(36), ForeignKey("audits.id", ondelete="CASCADE"), primary_key=True),
    Column("finding_id", String(64), primary_key=True),
    Column("rule", String(200), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("subject", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("provider", String(64)),
    Column("path", Text),
    Column("line", Integer),
)

backup_runs = Table(
    "backup_runs",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("source", String(200), nullable=False, index=True),
    Column("store", String(200), nullable=False),
    Column("status", String(16), nullable=False),  # running | complete | failed
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("size", BigInteger),
    Column("sha256", String(64)),
    Column("object_key", Text),
    Column("manifest_key", Text),
    Column("location", Text),
    Column("upload_id", Text),
    Column("error", Text),
    Column("host", String(255)),
    Column("pid", Integer),
    Column("pid_start", String(32)),
    Column("source_identity", Text),
    Column("server_version", String(32)),
    Column("dump_version", String(32)),
    Column("encrypted", Boolean, default=False),
    Column("recipients", JSON),
    Column("lock_mode", String(16)),
    Column("retain_until", DateTime(timezone=True)),
    Column("tables", Integer),
    Column("total_rows", BigInteger),
    Column("pruned_at", DateTime(timezone=True)),
)

backup_verifications = Table(
    "backup_verifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("backup_id", String(200), nullable=False, index=True),
    Column("source", String(200)),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("duration_s", Float),
    Column("mode", String(8), nullable=False),
    Column("outcome", String(8), nullable=False),  # passed | failed
    Column("failure_code", String(32)),
    Column("message", Text),
    Column("details", JSON),
)

store_checks = Table(
    "backup_store_checks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("store", String(200), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("result", JSON),
)
