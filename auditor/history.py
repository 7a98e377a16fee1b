"""Audit history: every audit is recorded in the state database, so reports can say what changed.

Tables (declared in ``auditor/state_tables.py``; queried here with plain SQL through ``StateDB.sql()``):
  * ``audits``: one row per recorded audit (when, tool version, scope, counts);
  * ``audit_findings``: the findings of each audit (id, rule, severity, subject, message, location).
Findings are compared by ``Finding.id`` (stable across runs: rule + subject + path).
No secret is ever written: findings and scope carry fingerprints and paths only.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from .errors import BlastwallError, StateError
from .model import AuditResult, Finding
from .state import ColumnKind, StateDB, as_utc

__all__ = [
    "AuditRecord",
    "FindingsDiff",
    "AUDIT_KINDS",
    "audit_at_or_before",
    "diff_findings",
    "diff_since",
    "findings_of",
    "latest_audit",
    "list_audits",
    "parse_since",
    "record_audit",
]

AUDIT_KINDS: dict[str, ColumnKind] = {"generated_at": "datetime", "recorded_at": "datetime"}
_AUDIT_COLUMNS = "id, generated_at, recorded_at, tool_version, n_findings, n_credentials, n_root_equivalent"
_FINDING_COLUMNS = ("audit_id", "finding_id", "rule", "severity", "subject", "message", "provider", "path", "line")

_SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}


@dataclass(frozen=True)
class AuditRecord:
    id: str
    generated_at: datetime
    recorded_at: datetime
    tool_version: str
    n_findings: int
    n_credentials: int
    n_root_equivalent: int

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "generated_at": self.generated_at.isoformat(),
            "n_findings": self.n_findings,
            "n_credentials": self.n_credentials,
        }


@dataclass(frozen=True)
class FindingsDiff:
    previous: AuditRecord | None
    current: AuditRecord | None
    new: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    resolved: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def to_dict(self, *, limit: int | None = None) -> dict[str, Any]:
        """The `--json` shape of `report diff`, also stored as `AuditResult.changes`.

        `limit` keeps only the first (most severe) `limit` entries of `new` and `resolved` (`counts`
        stays complete): a first audit of 100k findings need not copy them all into `changes`.
        """
        new = list(self.new if limit is None else self.new[:limit])
        resolved = list(self.resolved if limit is None else self.resolved[:limit])
        doc: dict[str, Any] = {
            "from": self.previous.summary() if self.previous else None,
            "to": self.current.summary() if self.current else None,
            "new": new,
            "resolved": resolved,
            "counts": {"new": len(self.new), "resolved": len(self.resolved)},
        }
        if limit is not None and (len(new) < len(self.new) or len(resolved) < len(self.resolved)):
            doc["truncated"] = True
        return doc


def _finding_row(f: Finding) -> dict[str, Any]:
    return {
        "finding_id": f.id,
        "rule": f.rule,
        "severity": f.severity.value,
        "subject": f.subject,
        "message": f.message,
        "provider": f.provider,
        "path": f.path,
        "line": f.line,
    }


def _row_to_finding(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["finding_id"],
        "rule": row["rule"],
        "severity": row["severity"],
        "subject": row["subject"],
        "message": row["message"],
        "provider": row["provider"],
        "path": row["path"],
        "line": row["line"],
    }


def _record(row: dict[str, Any]) -> AuditRecord:
    return AuditRecord(
        id=row["id"],
        generated_at=row["generated_at"],
        recorded_at=row["recorded_at"],
        tool_version=row["tool_version"],
        n_findings=row["n_findings"],
        n_credentials=row["n_credentials"],
        n_root_equivalent=row["n_root_equivalent"],
    )


def _sorted(findings: Iterable[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    return tuple(sorted(findings, key=lambda f: (_SEVERITY_ORDER.get(f["severity"], 9), f["rule"], f["id"])))


def diff_findings(
    previous: Iterable[dict[str, Any]], current: Iterable[dict[str, Any]]
) -> tuple[tuple[dict[str, Any], ...], tuple[dict[str, Any], ...]]:
    """(new, resolved) between two collections of finding dicts, by `id`."""
    prev = {f["id"]: f for f in previous}
    cur = {f["id"]: f for f in current}
    new = _sorted(f for k, f in cur.items() if k not in prev)
    resolved = _sorted(f for k, f in prev.items() if k not in cur)
    return new, resolved


def record_audit(db: StateDB, result: AuditResult, *, now: datetime | None = None) -> FindingsDiff:
    """Store `result` as a new audit and return what changed since the audit recorded before it.

    The caller can put ``diff.to_dict()`` into ``AuditResult.changes`` before writing reports.
    """
    db.ensure_schema()
    previous = latest_audit(db)
    prev_findings = findings_of(db, previous.id) if previous else []
    audit_id = str(uuid.uuid4())
    recorded_at = as_utc(now or datetime.now(UTC))
    row: dict[str, Any] = {
        "id": audit_id,
        "generated_at": as_utc(result.generated_at),
        "recorded_at": recorded_at,
        "tool_version": result.tool_version or "",
        "scope": json.dumps(result.scope, default=str),
        "n_findings": len(result.findings),
        "n_credentials": len(result.credentials),
        "n_root_equivalent": sum(1 for c in result.credentials if c.root_equivalent),
    }
    unique = {f.id: f for f in result.findings}
    try:
        with db.sql() as q:
            q.run(
                "INSERT INTO audits (id, generated_at, recorded_at, tool_version, scope, n_findings, n_credentials, "
                "n_root_equivalent) VALUES (:id, :generated_at, :recorded_at, :tool_version, :scope, :n_findings, "
                ":n_credentials, :n_root_equivalent)",
                row,
                AUDIT_KINDS,
            )
            rows = [{"audit_id": audit_id, **_finding_row(f)} for f in unique.values()]
            insert_finding = (
                f"INSERT INTO audit_findings ({', '.join(_FINDING_COLUMNS)}) "
                f"VALUES ({', '.join(':' + c for c in _FINDING_COLUMNS)})"
            )
            for i in range(0, len(rows), 5000):
                q.run_many(insert_finding, rows[i : i + 5000])
    except Exception as exc:  # database errors carry no secrets, but keep the message short
        raise StateError(
            f"cannot record the audit in the state database: {type(exc).__name__}",
            hint="check that the state directory is writable (BLASTWALL_STATE_DIR)",
        ) from exc
    current = AuditRecord(
        id=audit_id,
        generated_at=row["generated_at"],
        recorded_at=recorded_at,
        tool_version=row["tool_version"],
        n_findings=row["n_findings"],
        n_credentials=row["n_credentials"],
        n_root_equivalent=row["n_root_equivalent"],
    )
    new, resolved = diff_findings(prev_findings, (_finding_row_dict(f) for f in unique.values()))
    return FindingsDiff(previous=previous, current=current, new=new, resolved=resolved)


def _finding_row_dict(f: Finding) -> dict[str, Any]:
    d = _finding_row(f)
    d["id"] = d.pop("finding_id")
    return d


def list_audits(db: StateDB) -> list[AuditRecord]:
    db.ensure_schema()
    with db.sql() as q:
        rows = q.rows(f"SELECT {_AUDIT_COLUMNS} FROM audits ORDER BY generated_at, recorded_at", kinds=AUDIT_KINDS)
    return [_record(r) for r in rows]


def latest_audit(db: StateDB) -> AuditRecord | None:
    audits = list_audits(db)
    return audits[-1] if audits else None


def audit_at_or_before(db: StateDB, when: datetime, *, exclude: str | None = None) -> AuditRecord | None:
    when = as_utc(when)
    found = [a for a in list_audits(db) if a.generated_at <= when and a.id != exclude]
    return found[-1] if found else None


def findings_of(db: StateDB, audit_id: str) -> list[dict[str, Any]]:
    db.ensure_schema()
    with db.sql() as q:
        rows = q.rows(
            f"SELECT {', '.join(_FINDING_COLUMNS)} FROM audit_findings WHERE audit_id = :audit_id",
            {"audit_id": audit_id},
        )
    return [_row_to_finding(r) for r in rows]


def parse_since(value: str) -> str | datetime:
    """`last`, or an ISO date/datetime (naive means UTC)."""
    v = value.strip()
    if v.lower() == "last":
        return "last"
    try:
        if len(v) == 10:
            d = date.fromisoformat(v)
            return datetime.combine(d, time.max, tzinfo=UTC)  # the state at the end of that day
        return as_utc(datetime.fromisoformat(v))  # 3.11 accepts a trailing Z
    except ValueError:
        raise BlastwallError(
            f"--since {value!r} is neither 'last' nor a date",
            hint="use --since last, --since 2026-11-30 or --since 2026-11-30T12:00:00Z",
        ) from None


def diff_since(db: StateDB, since: str | datetime = "last") -> FindingsDiff:
    """What changed between an earlier audit and the latest one.

    ``since="last"`` compares with the audit recorded before the latest; a datetime compares with the
    newest audit at or before that moment. With no earlier audit, every current finding is new.
    """
    audits: Sequence[AuditRecord] = list_audits(db)
    if not audits:
        raise StateError("no audit has been recorded yet", hint="run `blastwall audit` first")
    current = audits[-1]
    if since == "last":
        previous = audits[-2] if len(audits) >= 2 else None
    else:
        assert isinstance(since, datetime)
        previous = audit_at_or_before(db, since, exclude=current.id)
    cur = findings_of(db, current.id)
    prev = findings_of(db, previous.id) if previous else []
    new, resolved = diff_findings(prev, cur)
    return FindingsDiff(previous=previous, current=current, new=new, resolved=resolved)
