"""The state database survives upgrades: one Alembic history, no row lost, newer databases refused.

Each test runs on SQLite and on a real PostgreSQL 17 (tests/support/pg.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, create_engine, insert, inspect, select, text

import auditor.backup.catalog
import auditor.history
import auditor.scheduler.store
import auditor.workflow.store  # noqa: F401  (declare every table on the shared metadata)
from auditor.errors import StateError
from auditor.state import SCHEMA_HEAD, StateDB, _alembic_config, metadata
from tests.state.legacy_schema import legacy

CLI = str(Path(sys.executable).with_name("blastwall"))
T0 = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)

# One row (or two) for every table of the previous schema, as the old code wrote them.
ROWS: dict[str, list[dict[str, Any]]] = {
    "audits": [
        {
            "id": "a1",
            "generated_at": T0,
            "recorded_at": T0,
            "tool_version": "0.1.0",
            "scope": "{}",
            "n_findings": 1,
            "n_credentials": 2,
            "n_root_equivalent": 1,
        }
    ],
    "audit_findings": [
        {
            "audit_id": "a1",
            "finding_id": "f1",
            "rule": "R001",
            "severity": "critical",
            "subject": "cred-1",
            "message": "m",
            "provider": "railway",
            "path": "/x/.env",
            "line": 3,
        }
    ],
    "backup_runs": [
        {
            "id": "b1",
            "source": "prod",
            "store": "s3",
            "status": "complete",
            "created_at": T0,
            "finished_at": T0,
            "size": 2**40,
            "sha256": "0" * 64,
            "object_key": "o",
            "manifest_key": "m",
            "location": "s3://b/o",
            "host": "h",
            "pid": 42,
            "pid_start": "123",
            "encrypted": True,
            "recipients": ["age1x"],
            "lock_mode": "COMPLIANCE",
            "retain_until": T0,
            "tables": 3,
            "total_rows": 10,
        }
    ],
    "backup_verifications": [
        {
            "backup_id": "b1",
            "source": "prod",
            "at": T0,
            "duration_s": 1.5,
            "mode": "full",
            "outcome": "passed",
            "details": {"tables": 3},
        }
    ],
    "backup_store_checks": [{"store": "s3", "at": T0, "result": {"ok": True}}],
    "workflow_runs": [
        {
            "id": "run_1",
            "workflow": "restore",
            "state": "waiting_approval",
            "params": "{}",
            "requested_by": "alice",
            "created_at": T0,
            "updated_at": T0,
            "plan": "{}",
            "plan_sha256": "a" * 64,
            "gate_step": "approve",
            "gate_opened_at": T0,
            "needs_human": True,
            "lease_owner": "h:1:ab",
            "lease_until": T0,
        }
    ],
    "workflow_steps": [
        {"run_id": "run_1", "name": "approve", "seq": 0, "kind": "gate", "state": "pending", "attempts": 0}
    ],
    "workflow_decisions": [
        {
            "run_id": "run_1",
            "step": "approve",
            "by": "bob",
            "decision": "approve",
            "at": T0,
            "plan_sha256": "a" * 64,
            "comment": "ok",
        }
    ],
    "workflow_events": [{"run_id": "run_1", "at": T0, "kind": "plan", "message": "plan presented"}],
    "scheduler_runs": [
        {
            "job_id": "backup:prod",
            "slot": "2026-11-30T03:00:00Z",
            "manual": False,
            "owner": "h:1:x",
            "state": "succeeded",
            "claimed_at": "2026-11-30T03:00:00Z",
        }
    ],
    "scheduler_jobs": [
        {"job_id": "backup:prod", "kind": "backup", "first_seen_at": "2026-11-30T03:00:00Z", "critical_ids": "[]"}
    ],
    "scheduler_daemons": [
        {
            "owner": "h:1:x",
            "host": "h",
            "pid": 1,
            "pidns": "4026531836",
            "started_at": "2026-11-30T03:00:00Z",
            "heartbeat_at": "2026-11-30T03:00:00Z",
        }
    ],
}


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
    else:
        pg_db = request.getfixturevalue("pg_db")
        yield pg_db.url


def _engine(url: str) -> Any:
    return StateDB(url).engine


def _dump(engine: Any, md: MetaData) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of `md`, restricted to `md`'s columns, in a stable order."""
    out = {}
    with engine.connect() as c:
        for name, t in md.tables.items():
            cols = [t.c[k] for k in t.c.keys()]
            rows = c.execute(select(*cols)).all()
            out[name] = sorted(tuple(json.dumps(v, sort_keys=True, default=str) for v in r) for r in rows)
    return out


def _diff(engine: Any, md: MetaData) -> list[Any]:
    with engine.connect() as c:
        ctx = MigrationContext.configure(c, opts={"compare_type": True})
        return [d for d in compare_metadata(ctx, md) if not (d[0] == "remove_table" and d[1].name == "alembic_version")]


def test_rows_of_every_table_survive_an_upgrade_from_the_previous_schema(state_url: str) -> None:
    assert set(ROWS) == set(legacy.tables) == set(metadata.tables), "a table without rows in this test"
    old = create_engine(state_url.replace("postgresql://", "postgresql+psycopg://"))
    legacy.create_all(old)  # exactly what Blastwall 0.1.0 did: no alembic_version
    with old.begin() as c:
        for name, rows in ROWS.items():
            c.execute(insert(legacy.tables[name]), rows)
    before = _dump(old, legacy)
    assert all(before[n] for n in ROWS)

    db = StateDB(state_url)
    assert db.current_revision() is None
    db.ensure_schema()  # what every store does on start
    assert db.current_revision() == SCHEMA_HEAD
    assert _dump(db.engine, legacy) == before  # not one row or value lost
    assert _diff(db.engine, metadata) == []  # and the schema is now exactly the current one
    # the stores work on the upgraded database and see the old rows
    from auditor.backup.catalog import Catalog
    from auditor.history import list_audits
    from auditor.workflow.store import RunStore

    assert [a.id for a in list_audits(db)] == ["a1"]
    assert Catalog(db).get("b1") is not None
    assert RunStore(db).run("run_1").state.value == "waiting_approval"
    db.dispose()
    old.dispose()


def test_first_migration_is_exactly_the_previous_schema_and_head_is_the_current_one(state_url: str) -> None:
    cfg = _alembic_config()
    engine = _engine(state_url)
    with engine.begin() as c:
        cfg.attributes["connection"] = c
        command.upgrade(cfg, "0001")
    assert _diff(engine, legacy) == []
    with engine.begin() as c:
        cfg.attributes["connection"] = c
        command.upgrade(cfg, "head")
    # a table or column added to a store without a migration fails here: add one in auditor/migrations/versions
    assert _diff(engine, metadata) == []
    assert ScriptDirectory.from_config(cfg).get_heads() == [SCHEMA_HEAD]
    engine.dispose()


def test_a_partial_previous_database_is_adopted(state_url: str) -> None:
    """create_all() only created the tables of modules imported so far: e.g. only the scheduler's."""
    old = _engine(state_url)
    sched = [legacy.tables[n] for n in ("scheduler_runs", "scheduler_jobs", "scheduler_daemons")]
    legacy.create_all(old, tables=sched)
    with old.begin() as c:
        c.execute(insert(legacy.tables["scheduler_jobs"]), ROWS["scheduler_jobs"])
    db = StateDB(state_url)
    assert db.upgrade().after == SCHEMA_HEAD
    assert set(inspect(db.engine).get_table_names()) == set(metadata.tables) | {"alembic_version"}
    with db.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM scheduler_jobs")).scalar() == 1
    db.dispose()
    old.dispose()


def test_a_database_newer_than_the_code_is_refused(state_url: str) -> None:
    db = StateDB(state_url)
    db.ensure_schema()
    with db.engine.begin() as c:
        c.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
        c.execute(insert(metadata.tables["scheduler_jobs"]), ROWS["scheduler_jobs"])
    with pytest.raises(StateError) as exc:
        StateDB(state_url).ensure_schema()
    assert "newer than this Blastwall" in str(exc.value) and exc.value.hint
    p = subprocess.run([CLI, "state", "upgrade", "--url", state_url], capture_output=True, text=True, timeout=120)
    assert p.returncode == 1, p.stdout + p.stderr
    err = " ".join(p.stderr.split())
    assert "9999_from_the_future" in err and "newer than this Blastwall" in err and "hint:" in err
    assert "upgrade Blastwall" in err
    password = state_url.split("@")[0].rsplit(":", 1)[-1] if "@" in state_url else None
    if password:
        assert password not in p.stderr + p.stdout
    # untouched: same revision, same rows
    assert db.current_revision() == "9999_from_the_future"
    with db.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM scheduler_jobs")).scalar() == 1
    db.dispose()


def test_concurrent_starts_upgrade_once_without_racing(state_url: str) -> None:
    """Several processes start on one fresh database at the same moment: the lock serialises them."""
    env = {**os.environ}
    procs = [
        subprocess.Popen(
            [CLI, "state", "upgrade", "--url", state_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(4)
    ]
    outs = [(p.wait(120), *p.communicate()) for p in procs]
    assert [rc for rc, _, _ in outs] == [0, 0, 0, 0], outs
    upgraded = [o for _, o, _ in outs if "upgraded from" in o]
    assert len(upgraded) == 1, outs  # exactly one did the work, the others found it done
    db = StateDB(state_url)
    assert db.current_revision() == SCHEMA_HEAD
    with db.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    db.dispose()


def test_state_upgrade_reports_up_to_date(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    first = subprocess.run([CLI, "state", "upgrade", "--url", url], capture_output=True, text=True, timeout=120)
    again = subprocess.run([CLI, "state", "upgrade", "--url", url], capture_output=True, text=True, timeout=120)
    assert first.returncode == 0 and "upgraded from an unversioned schema to " + SCHEMA_HEAD in " ".join(
        first.stdout.split()
    )
    assert again.returncode == 0 and "up to date" in " ".join(again.stdout.split())
