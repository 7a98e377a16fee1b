"""The backup catalogue in the state database: every backup run and every verification.

Tables (on `auditor.state.metadata`):
- `backup_runs`: one row per `backup run`, status running -> complete | failed. A run that is
  found 'running' while its process is gone (kill -9, power loss) is marked failed by the next
  `backup run` / `backup list` (`reap_dead_runs`), and its multipart upload id is kept so the
  upload can be aborted.
- `backup_verifications`: one row per verification (quick or full) with its outcome.

Nothing secret is stored: sources are named, never their URLs.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)

from ..liveness import owner_gone, process_start_time
from ..state import StateDB, metadata

__all__ = [
    "backup_runs",
    "backup_verifications",
    "store_checks",
    "BackupRecord",
    "VerificationRecord",
    "Catalog",
    "process_start_time",
]

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


def _utc(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


@dataclass(frozen=True)
class VerificationRecord:
    backup_id: str
    at: datetime
    mode: str
    outcome: str
    failure_code: str | None
    message: str
    duration_s: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def brief(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "outcome": self.outcome,
            "failure_code": self.failure_code,
            "message": self.message,
        }


@dataclass(frozen=True)
class BackupRecord:
    id: str
    source: str
    store: str
    status: str
    created_at: datetime
    finished_at: datetime | None = None
    size: int | None = None
    sha256: str | None = None
    object_key: str | None = None
    manifest_key: str | None = None
    location: str | None = None
    upload_id: str | None = None
    error: str | None = None
    source_identity: str | None = None
    server_version: str | None = None
    dump_version: str | None = None
    encrypted: bool = False
    recipients: tuple[str, ...] = ()
    lock_mode: str | None = None
    retain_until: datetime | None = None
    tables: int | None = None
    total_rows: int | None = None
    pruned_at: datetime | None = None
    host: str | None = None
    pid: int | None = None
    last_verification: VerificationRecord | None = None

    @property
    def complete(self) -> bool:
        return self.status == "complete" and self.pruned_at is None

    def to_json(self) -> dict[str, Any]:
        """The `backup list --json` / `backup run --json` object (pinned by issue 11)."""
        return {
            "id": self.id,
            "source": self.source,
            "store": self.store,
            "created_at": self.created_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "size": self.size,
            "sha256": self.sha256,
            "status": self.status,
            "error": self.error,
            "last_verification": self.last_verification.brief() if self.last_verification else None,
        }


_FIELDS = {f for f in BackupRecord.__dataclass_fields__ if f != "last_verification"}


def _record(row: Any, last: VerificationRecord | None = None) -> BackupRecord:
    m = dict(row._mapping)
    kw: dict[str, Any] = {k: m.get(k) for k in _FIELDS}
    for k in ("created_at", "finished_at", "retain_until", "pruned_at"):
        kw[k] = _utc(kw[k])
    kw["recipients"] = tuple(kw["recipients"] or ())
    kw["encrypted"] = bool(kw["encrypted"])
    return BackupRecord(**kw, last_verification=last)


def _verification(row: Any) -> VerificationRecord:
    m = row._mapping
    return VerificationRecord(
        backup_id=m["backup_id"],
        at=_utc(m["at"]) or datetime.now(UTC),
        mode=m["mode"],
        outcome=m["outcome"],
        failure_code=m["failure_code"],
        message=m["message"] or "",
        duration_s=m["duration_s"],
        details=m["details"] or {},
    )


class Catalog:
    """Typed access to the backup tables. Build with the shared `StateDB`."""

    def __init__(self, db: StateDB, clock: Callable[[], datetime] | None = None) -> None:
        self.db = db
        self.clock = clock or (lambda: datetime.now(UTC))
        db.ensure_schema()

    # ---- runs -----------------------------------------------------------------------------------

    def start_run(self, backup_id: str, source: str, store: str, created_at: datetime) -> None:
        pid = os.getpid()
        with self.db.engine.begin() as c:
            c.execute(
                insert(backup_runs).values(
                    id=backup_id,
                    source=source,
                    store=store,
                    status="running",
                    created_at=created_at,
                    host=socket.gethostname(),
                    pid=pid,
                    pid_start=process_start_time(pid),
                )
            )

    def update_run(self, backup_id: str, **values: Any) -> None:
        if "recipients" in values and values["recipients"] is not None:
            values["recipients"] = list(values["recipients"])
        with self.db.engine.begin() as c:
            c.execute(update(backup_runs).where(backup_runs.c.id == backup_id).values(**values))

    def finish_run(self, backup_id: str, **values: Any) -> None:
        self.update_run(backup_id, status="complete", finished_at=self.clock(), error=None, **values)

    def fail_run(self, backup_id: str, error: str) -> None:
        self.update_run(backup_id, status="failed", finished_at=self.clock(), error=error[:4000])

    def reap_dead_runs(self, on_reaped: Callable[[BackupRecord], None] | None = None) -> list[BackupRecord]:
        """Mark 'running' rows of this host whose process is gone as failed; returns them."""
        reaped = []
        with self.db.engine.connect() as c:
            rows = c.execute(select(backup_runs).where(backup_runs.c.status == "running")).fetchall()
        for row in rows:
            m = row._mapping
            if not owner_gone(m["host"], m["pid"], m["pid_start"]):
                continue
            self.fail_run(
                m["id"],
                f"the backup process (pid {m['pid']}) died before finishing "
                "(killed or crashed); no manifest was written, so this backup does not count",
            )
            rec = self.get(m["id"])
            if rec is not None:
                reaped.append(rec)
                if on_reaped is not None:
                    on_reaped(rec)
        return reaped

    def get(self, backup_id: str) -> BackupRecord | None:
        with self.db.engine.connect() as c:
            row = c.execute(select(backup_runs).where(backup_runs.c.id == backup_id)).fetchone()
        if row is None:
            return None
        return _record(row, self.last_verification(backup_id))

    def records(self, source: str | None = None, *, include_pruned: bool = False) -> list[BackupRecord]:
        q = select(backup_runs).order_by(backup_runs.c.created_at.desc(), backup_runs.c.id.desc())
        if source:
            q = q.where(backup_runs.c.source == source)
        if not include_pruned:
            q = q.where(backup_runs.c.pruned_at.is_(None))
        with self.db.engine.connect() as c:
            rows = c.execute(q).fetchall()
        last = self._last_verifications([r._mapping["id"] for r in rows])
        return [_record(r, last.get(r._mapping["id"])) for r in rows]

    def newest_complete(self, source: str, store: str | None = None) -> BackupRecord | None:
        for r in self.records(source):
            if r.complete and (store is None or r.store == store):
                return r
        return None

    def with_upload_ids(self) -> list[BackupRecord]:
        with self.db.engine.connect() as c:
            rows = c.execute(
                select(backup_runs).where(backup_runs.c.upload_id.is_not(None), backup_runs.c.status != "running")
            ).fetchall()
        return [_record(r) for r in rows]

    # ---- verifications --------------------------------------------------------------------------

    def record_verification(self, v: VerificationRecord, source: str | None = None) -> None:
        with self.db.engine.begin() as c:
            c.execute(
                insert(backup_verifications).values(
                    backup_id=v.backup_id,
                    source=source,
                    at=v.at,
                    duration_s=v.duration_s,
                    mode=v.mode,
                    outcome=v.outcome,
                    failure_code=v.failure_code,
                    message=v.message,
                    details=json.loads(json.dumps(v.details, default=str)),
                )
            )

    def last_verification(self, backup_id: str) -> VerificationRecord | None:
        return self._last_verifications([backup_id]).get(backup_id)

    def _last_verifications(self, ids: Sequence[str]) -> dict[str, VerificationRecord]:
        if not ids:
            return {}
        out: dict[str, VerificationRecord] = {}
        with self.db.engine.connect() as c:
            for i in range(0, len(ids), 500):
                chunk = list(ids[i : i + 500])
                rows = c.execute(
                    select(backup_verifications)
                    .where(backup_verifications.c.backup_id.in_(chunk))
                    .order_by(backup_verifications.c.at.asc(), backup_verifications.c.id.asc())
                ).fetchall()
                for r in rows:
                    out[r._mapping["backup_id"]] = _verification(r)
        return out

    def verifications(self, backup_id: str | None = None) -> list[VerificationRecord]:
        q = select(backup_verifications).order_by(backup_verifications.c.at.desc(), backup_verifications.c.id.desc())
        if backup_id:
            q = q.where(backup_verifications.c.backup_id == backup_id)
        with self.db.engine.connect() as c:
            return [_verification(r) for r in c.execute(q).fetchall()]

    # ---- store checks ---------------------------------------------------------------------------

    def record_store_check(self, store: str, result: dict[str, Any]) -> None:
        with self.db.engine.begin() as c:
            c.execute(insert(store_checks).values(store=store, at=self.clock(), result=result))

    def last_store_check(self, store: str) -> tuple[datetime, dict[str, Any]] | None:
        with self.db.engine.connect() as c:
            row = c.execute(
                select(store_checks).where(store_checks.c.store == store).order_by(store_checks.c.id.desc()).limit(1)
            ).fetchone()
        if row is None:
            return None
        return _utc(row._mapping["at"]) or datetime.now(UTC), dict(row._mapping["result"] or {})
