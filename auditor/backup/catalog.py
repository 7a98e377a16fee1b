"""The backup catalogue in the state database: every backup run and every verification.

Tables (declared in `auditor/state_tables.py`; queried here with plain SQL through `StateDB.sql()`):
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

from ..liveness import owner_gone, process_start_time
from ..state import ColumnKind, StateDB

__all__ = [
    "RUN_KINDS",
    "VERIFICATION_KINDS",
    "STORE_CHECK_KINDS",
    "BackupRecord",
    "VerificationRecord",
    "Catalog",
    "process_start_time",
]

# Columns whose values need converting (the tables themselves: `auditor/state_tables.py`).
RUN_KINDS: dict[str, ColumnKind] = {
    "created_at": "datetime",
    "finished_at": "datetime",
    "retain_until": "datetime",
    "pruned_at": "datetime",
    "encrypted": "bool",
    "recipients": "json",
}
VERIFICATION_KINDS: dict[str, ColumnKind] = {"at": "datetime", "details": "json"}
STORE_CHECK_KINDS: dict[str, ColumnKind] = {"at": "datetime", "result": "json"}


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
_UPDATABLE = _FIELDS - {"id"}


def _record(row: dict[str, Any], last: VerificationRecord | None = None) -> BackupRecord:
    kw: dict[str, Any] = {k: row.get(k) for k in _FIELDS}
    kw["recipients"] = tuple(kw["recipients"] or ())
    kw["encrypted"] = bool(kw["encrypted"])
    return BackupRecord(**kw, last_verification=last)


def _verification(m: dict[str, Any]) -> VerificationRecord:
    return VerificationRecord(
        backup_id=m["backup_id"],
        at=m["at"] or datetime.now(UTC),
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
        with self.db.sql() as q:
            q.run(
                "INSERT INTO backup_runs (id, source, store, status, created_at, host, pid, pid_start, encrypted) "
                "VALUES (:id, :source, :store, 'running', :created_at, :host, :pid, :pid_start, :encrypted)",
                {
                    "id": backup_id,
                    "source": source,
                    "store": store,
                    "created_at": created_at,
                    "host": socket.gethostname(),
                    "pid": pid,
                    "pid_start": process_start_time(pid),
                    "encrypted": False,
                },
                RUN_KINDS,
            )

    def update_run(self, backup_id: str, **values: Any) -> None:
        if "recipients" in values and values["recipients"] is not None:
            values["recipients"] = list(values["recipients"])
        unknown = set(values) - _UPDATABLE  # column names go into the SQL text: only known ones
        if unknown:
            raise ValueError(f"not columns of backup_runs that a run may update: {sorted(unknown)}")
        if not values:
            return
        sets = ", ".join(f"{k} = :{k}" for k in values)
        with self.db.sql() as q:
            q.run(f"UPDATE backup_runs SET {sets} WHERE id = :id", {**values, "id": backup_id}, RUN_KINDS)

    def finish_run(self, backup_id: str, **values: Any) -> None:
        self.update_run(backup_id, status="complete", finished_at=self.clock(), error=None, **values)

    def fail_run(self, backup_id: str, error: str) -> None:
        self.update_run(backup_id, status="failed", finished_at=self.clock(), error=error[:4000])

    def reap_dead_runs(self, on_reaped: Callable[[BackupRecord], None] | None = None) -> list[BackupRecord]:
        """Mark 'running' rows of this host whose process is gone as failed; returns them."""
        reaped = []
        with self.db.sql() as q:
            rows = q.rows("SELECT id, host, pid, pid_start FROM backup_runs WHERE status = 'running'")
        for m in rows:
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
        with self.db.sql() as q:
            rows = q.rows("SELECT * FROM backup_runs WHERE id = :id", {"id": backup_id}, RUN_KINDS)
        if not rows:
            return None
        return _record(rows[0], self.last_verification(backup_id))

    def records(self, source: str | None = None, *, include_pruned: bool = False) -> list[BackupRecord]:
        where = []
        if source:
            where.append("source = :source")
        if not include_pruned:
            where.append("pruned_at IS NULL")
        sql = "SELECT * FROM backup_runs" + (" WHERE " + " AND ".join(where) if where else "")
        with self.db.sql() as q:
            rows = q.rows(sql + " ORDER BY created_at DESC, id DESC", {"source": source} if source else {}, RUN_KINDS)
        last = self._last_verifications([r["id"] for r in rows])
        return [_record(r, last.get(r["id"])) for r in rows]

    def newest_complete(self, source: str, store: str | None = None) -> BackupRecord | None:
        for r in self.records(source):
            if r.complete and (store is None or r.store == store):
                return r
        return None

    def with_upload_ids(self) -> list[BackupRecord]:
        with self.db.sql() as q:
            rows = q.rows(
                "SELECT * FROM backup_runs WHERE upload_id IS NOT NULL AND status != 'running'", kinds=RUN_KINDS
            )
        return [_record(r) for r in rows]

    # ---- verifications --------------------------------------------------------------------------

    def record_verification(self, v: VerificationRecord, source: str | None = None) -> None:
        with self.db.sql() as q:
            q.run(
                "INSERT INTO backup_verifications "
                "(backup_id, source, at, duration_s, mode, outcome, failure_code, message, details) "
                "VALUES (:backup_id, :source, :at, :duration_s, :mode, :outcome, :failure_code, :message, :details)",
                {
                    "backup_id": v.backup_id,
                    "source": source,
                    "at": v.at,
                    "duration_s": v.duration_s,
                    "mode": v.mode,
                    "outcome": v.outcome,
                    "failure_code": v.failure_code,
                    "message": v.message,
                    "details": json.loads(json.dumps(v.details, default=str)),
                },
                VERIFICATION_KINDS,
            )

    def last_verification(self, backup_id: str) -> VerificationRecord | None:
        return self._last_verifications([backup_id]).get(backup_id)

    def _last_verifications(self, ids: Sequence[str]) -> dict[str, VerificationRecord]:
        if not ids:
            return {}
        out: dict[str, VerificationRecord] = {}
        with self.db.sql() as q:
            for i in range(0, len(ids), 500):
                chunk = list(ids[i : i + 500])
                marks = ", ".join(f":b{j}" for j in range(len(chunk)))
                rows = q.rows(
                    f"SELECT * FROM backup_verifications WHERE backup_id IN ({marks}) ORDER BY at ASC, id ASC",
                    {f"b{j}": b for j, b in enumerate(chunk)},
                    VERIFICATION_KINDS,
                )
                for r in rows:
                    out[r["backup_id"]] = _verification(r)
        return out

    def verifications(self, backup_id: str | None = None) -> list[VerificationRecord]:
        sql = "SELECT * FROM backup_verifications" + (" WHERE backup_id = :backup_id" if backup_id else "")
        with self.db.sql() as q:
            rows = q.rows(
                sql + " ORDER BY at DESC, id DESC", {"backup_id": backup_id} if backup_id else {}, VERIFICATION_KINDS
            )
        return [_verification(r) for r in rows]

    # ---- store checks ---------------------------------------------------------------------------

    def record_store_check(self, store: str, result: dict[str, Any]) -> None:
        with self.db.sql() as q:
            q.run(
                "INSERT INTO backup_store_checks (store, at, result) VALUES (:store, :at, :result)",
                {"store": store, "at": self.clock(), "result": result},
                STORE_CHECK_KINDS,
            )

    def last_store_check(self, store: str) -> tuple[datetime, dict[str, Any]] | None:
        with self.db.sql() as q:
            rows = q.rows(
                "SELECT at, result FROM backup_store_checks WHERE store = :store ORDER BY id DESC LIMIT 1",
                {"store": store},
                STORE_CHECK_KINDS,
            )
        if not rows:
            return None
        return rows[0]["at"] or datetime.now(UTC), dict(rows[0]["result"] or {})
