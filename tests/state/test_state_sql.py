"""`StateDB.sql()`: the plain-SQL path of the catalogue and the audit history, on every state database.

The default SQLite file runs on Python's own sqlite3 (no SQLAlchemy import); any other URL through SQLAlchemy.
Both must store what SQLAlchemy's typed tables store, so a database written by one is read by the other
(databases written before this path existed, the scheduler and workflow code that still use SQLAlchemy Core).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, Boolean, DateTime, insert, select

from auditor.backup.catalog import RUN_KINDS, STORE_CHECK_KINDS, VERIFICATION_KINDS, Catalog, VerificationRecord
from auditor.history import AUDIT_KINDS, diff_since, findings_of, list_audits, record_audit
from auditor.model import AuditResult, Finding, Severity
from auditor.state import StateDB
from auditor.state_tables import audits_table, backup_runs, backup_verifications, store_checks

T0 = datetime(2026, 11, 30, 3, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture(params=["sqlite3", "sqlalchemy-sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateDB]:
    if request.param == "postgresql":
        d = StateDB(request.getfixturevalue("pg_db").url)
    else:
        d = StateDB(f"sqlite:///{tmp_path / 'state.db'}")
        if request.param == "sqlalchemy-sqlite":
            d.sqlite_path = None  # the SQLAlchemy path, on the same kind of file
        else:
            assert d.sqlite_path is not None
    d.ensure_schema()
    yield d
    d.dispose()


def _sqlalchemy_twin(db: StateDB) -> StateDB:
    """The same database, reached through SQLAlchemy."""
    twin = StateDB(db.url)
    twin.sqlite_path = None
    return twin


@pytest.mark.parametrize(
    ("table", "kinds"),
    [
        (backup_runs, RUN_KINDS),
        (backup_verifications, VERIFICATION_KINDS),
        (store_checks, STORE_CHECK_KINDS),
        (audits_table, AUDIT_KINDS),
    ],
    ids=lambda x: getattr(x, "name", ""),
)
def test_declared_column_kinds_match_the_tables(table: Any, kinds: dict[str, str]) -> None:
    expected = {}
    for col in table.columns:
        if isinstance(col.type, DateTime):
            expected[col.name] = "datetime"
        elif isinstance(col.type, JSON):
            expected[col.name] = "json"
        elif isinstance(col.type, Boolean):
            expected[col.name] = "bool"
    assert kinds == expected


def test_catalogue_round_trip(db: StateDB) -> None:
    clock = iter(T0 + timedelta(minutes=i) for i in range(100))
    cat = Catalog(db, lambda: next(clock))
    cat.start_run("b1", "app", "s3", T0)
    rec = cat.get("b1")
    assert rec is not None and rec.status == "running" and rec.created_at == T0 and rec.encrypted is False
    cat.update_run("b1", object_key="k", encrypted=True, recipients=("age1x", "age1y"), upload_id="u1")
    cat.finish_run("b1", size=5_000_000_000, sha256="a" * 64, retain_until=T0 + timedelta(days=30), upload_id=None)
    rec = cat.get("b1")
    assert rec is not None
    assert (rec.status, rec.size, rec.encrypted, rec.recipients, rec.upload_id) == (
        "complete",
        5_000_000_000,
        True,
        ("age1x", "age1y"),
        None,
    )
    assert rec.finished_at == T0 and rec.retain_until == T0 + timedelta(days=30)
    assert rec.created_at.tzinfo is not None and rec.created_at.utcoffset() == timedelta(0)
    cat.start_run("b2", "app", "s3", T0 + timedelta(hours=1))
    cat.update_run("b2", upload_id="u2")
    cat.fail_run("b2", "boom")
    assert [r.id for r in cat.with_upload_ids()] == ["b2"]
    assert [r.id for r in cat.records("app")] == ["b2", "b1"]  # newest first
    assert cat.newest_complete("app") is not None and cat.newest_complete("app").id == "b1"  # type: ignore[union-attr]
    cat.update_run("b2", pruned_at=T0)
    assert [r.id for r in cat.records("app")] == ["b1"] and len(cat.records(include_pruned=True)) == 2

    for i, outcome in enumerate(("failed", "passed")):
        cat.record_verification(
            VerificationRecord("b1", T0 + timedelta(seconds=i), "full", outcome, None, "m", 1.5, {"tables": [1, 2]}),
            source="app",
        )
    last = cat.last_verification("b1")
    assert last is not None and (last.outcome, last.details, last.duration_s) == ("passed", {"tables": [1, 2]}, 1.5)
    assert [v.outcome for v in cat.verifications("b1")] == ["passed", "failed"]
    assert cat.get("b1").last_verification == last  # type: ignore[union-attr]

    cat.record_store_check("s3", {"ok": True, "lock": "COMPLIANCE"})
    cat.record_store_check("s3", {"ok": False})
    at, result = cat.last_store_check("s3")  # type: ignore[misc]
    assert result == {"ok": False} and at.tzinfo is not None
    assert cat.last_store_check("other") is None


def test_a_run_updates_only_its_own_columns(db: StateDB) -> None:
    cat = Catalog(db)
    cat.start_run("b1", "app", "s3", T0)
    with pytest.raises(ValueError, match="not columns"):
        cat.update_run("b1", **{"status = 'complete', size": 1})
    with pytest.raises(ValueError, match="not columns"):
        cat.update_run("b1", id="b2")
    assert cat.get("b1").status == "running"  # type: ignore[union-attr]


def test_rows_written_by_sqlalchemy_tables_are_read_alike_and_back(db: StateDB) -> None:
    """The plain-SQL path and SQLAlchemy's typed tables store the same values the same way."""
    twin = _sqlalchemy_twin(db)
    non_utc = datetime(2026, 11, 30, 5, 0, 0, 7, tzinfo=timezone(timedelta(hours=2)))
    with twin.engine.begin() as c:  # as a database written before the plain-SQL path existed
        c.execute(
            insert(backup_runs).values(
                id="old",
                source="app",
                store="s3",
                status="complete",
                created_at=T0,
                encrypted=True,
                recipients=["age1x"],
                retain_until=T0,
            )
        )
        c.execute(
            insert(backup_verifications).values(
                backup_id="old", at=T0, mode="quick", outcome="passed", details={"k": [1]}
            )
        )
    rec = Catalog(db).get("old")
    assert rec is not None and (rec.created_at, rec.encrypted, rec.recipients, rec.retain_until) == (
        T0,
        True,
        ("age1x",),
        T0,
    )
    assert rec.last_verification is not None and rec.last_verification.details == {"k": [1]}

    cat = Catalog(db)
    cat.start_run("new", "app", "s3", non_utc)
    cat.update_run("new", recipients=["age1y"], encrypted=False)
    with twin.engine.connect() as c:
        row = c.execute(select(backup_runs).where(backup_runs.c.id == "new")).one()._mapping
    created = row["created_at"] if row["created_at"].tzinfo else row["created_at"].replace(tzinfo=UTC)
    assert created == non_utc  # the same instant (stored as UTC)
    assert (row["recipients"], row["encrypted"], row["status"]) == (["age1y"], False, "running")
    twin.dispose()


def _finding(fid: str, severity: Severity = Severity.high) -> Finding:
    return Finding(id=fid, rule="r", severity=severity, subject="s", message="m", remediation="x", path="/p", line=3)


def test_audit_history_round_trip(db: StateDB) -> None:
    first = AuditResult(generated_at=T0, tool_version="1", findings=[_finding("a"), _finding("b")])
    d1 = record_audit(db, first, now=T0)
    assert d1.previous is None and {f["id"] for f in d1.new} == {"a", "b"}
    second = AuditResult(generated_at=T0 + timedelta(days=1), tool_version="1", findings=[_finding("b"), _finding("c")])
    d2 = record_audit(db, second, now=T0 + timedelta(days=1))
    assert d2.previous is not None and d2.previous.id == d1.current.id  # type: ignore[union-attr]
    assert [f["id"] for f in d2.new] == ["c"] and [f["id"] for f in d2.resolved] == ["a"]
    audits = list_audits(db)
    assert [a.generated_at for a in audits] == [T0, T0 + timedelta(days=1)]
    assert {f["id"]: f["line"] for f in findings_of(db, audits[0].id)} == {"a": 3, "b": 3}
    assert [f["id"] for f in diff_since(db, T0 + timedelta(hours=1)).new] == ["c"]
    twin = _sqlalchemy_twin(db)  # what SQLAlchemy reads back is the same
    with twin.engine.connect() as c:
        rows = c.execute(select(audits_table).order_by(audits_table.c.generated_at)).all()
    assert [r.id for r in rows] == [a.id for a in audits]
    assert [(r.generated_at if r.generated_at.tzinfo else r.generated_at.replace(tzinfo=UTC)) for r in rows] == [
        a.generated_at for a in audits
    ]
    twin.dispose()


def test_the_default_state_file_is_reached_without_sqlalchemy(tmp_path: Path) -> None:
    """At the schema head, the catalogue and the history of a SQLite state file load no SQLAlchemy."""
    import subprocess

    url = f"sqlite:///{tmp_path / 'state.db'}"
    StateDB(url).ensure_schema()  # created (by the migrations) in this process
    code = (
        "import sys\nfrom datetime import UTC, datetime\n"
        "from auditor.state import StateDB\nfrom auditor.backup.catalog import Catalog\n"
        "from auditor.history import record_audit\nfrom auditor.model import AuditResult\n"
        f"db = StateDB({url!r})\nc = Catalog(db)\nc.start_run('b', 'app', 's', datetime.now(UTC))\n"
        "c.finish_run('b', size=1)\nassert c.get('b').status == 'complete'\n"
        "record_audit(db, AuditResult(generated_at=datetime.now(UTC)))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
