"""One liveness check (pid + process start time) for backup runs, scheduler daemons and workflow leases.

PID reuse is reproduced as it happens: a live process holds the recorded pid, but it started at
another time than the one recorded. Each caller must then treat the owner as gone.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, update

from auditor.backup.catalog import Catalog
from auditor.errors import StateError
from auditor.liveness import owner_gone, pid_namespace, process_alive, process_start_time
from auditor.scheduler.store import ScheduleStore, daemons_t, iso
from auditor.state import StateDB
from auditor.state_tables import backup_runs
from auditor.workflow.store import RunStore, runs_table

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


@pytest.fixture
def other() -> Iterator[subprocess.Popen[bytes]]:
    p = subprocess.Popen(["sleep", "60"])
    try:
        yield p
    finally:
        p.kill()
        p.wait()


@pytest.fixture
def db(tmp_path) -> Iterator[StateDB]:  # type: ignore[no-untyped-def]
    d = StateDB(f"sqlite:///{tmp_path / 'state.db'}")
    yield d
    d.dispose()


def _reused(start: str) -> str:
    """The start time the dead owner had: earlier than the process that holds its pid now."""
    return str(int(start) - 1000)


def test_helper_tells_a_reused_pid_from_the_owner(other: subprocess.Popen[bytes]) -> None:
    start = process_start_time(other.pid)
    assert start is not None
    assert process_alive(other.pid, start)
    assert not process_alive(other.pid, _reused(start))  # pid exists, but it is another process
    assert process_alive(other.pid, None)  # rows of older versions: pid only
    host = socket.gethostname()
    assert owner_gone(host, other.pid, _reused(start))
    assert not owner_gone(host, other.pid, start)
    assert not owner_gone("another-host", other.pid, _reused(start))  # cannot check: not provably gone
    assert not owner_gone(host, other.pid, _reused(start), pidns="some-other-namespace")
    other.kill()
    other.wait()
    assert not process_alive(other.pid, start) and owner_gone(host, other.pid, start)


def test_backup_run_of_a_reused_pid_is_reaped(db: StateDB, other: subprocess.Popen[bytes]) -> None:
    start = process_start_time(other.pid)
    assert start is not None
    cat = Catalog(db)
    for bid, recorded in (("live", start), ("reused", _reused(start))):
        cat.start_run(bid, "prod", "local", NOW)
        with db.engine.begin() as c:
            c.execute(update(backup_runs).where(backup_runs.c.id == bid).values(pid=other.pid, pid_start=recorded))
    assert [r.id for r in cat.reap_dead_runs()] == ["reused"]


def test_daemon_of_a_reused_pid_is_not_live(db: StateDB, other: subprocess.Popen[bytes]) -> None:
    start = process_start_time(other.pid)
    assert start is not None
    store = ScheduleStore(db)
    with db.engine.begin() as c:
        for owner, recorded in (("live", start), ("reused", _reused(start))):
            c.execute(
                insert(daemons_t).values(
                    owner=owner,
                    host=socket.gethostname(),
                    pid=other.pid,
                    pidns=pid_namespace(),
                    pid_start=recorded,
                    started_at=iso(NOW),
                    heartbeat_at=iso(NOW),
                )
            )
    assert store.live_owners(NOW) == {"live"}


def test_workflow_lease_of_a_reused_pid_is_taken_over(db: StateDB, other: subprocess.Popen[bytes]) -> None:
    start = process_start_time(other.pid)
    assert start is not None
    store = RunStore(db)
    for run_id in ("run_live", "run_reused"):
        store.create_run(run_id=run_id, workflow="restore", params={}, requested_by="t", steps=[("a", "task")], now=NOW)
    holder = f"{socket.gethostname()}:{other.pid}:feedbeef"
    with db.engine.begin() as c:
        for run_id, recorded in (("run_live", start), ("run_reused", _reused(start))):
            c.execute(
                update(runs_table)
                .where(runs_table.c.id == run_id)
                .values(lease_owner=holder, lease_until=NOW + timedelta(hours=1), lease_pid_start=recorded)
            )
    with pytest.raises(StateError, match="being advanced by another process"):
        store.acquire("run_live", NOW)
    store.acquire("run_reused", NOW)  # the holder is gone: its pid now belongs to someone else
    assert store.run("run_reused") is not None
    with db.engine.connect() as c:
        row = c.execute(runs_table.select().where(runs_table.c.id == "run_reused")).one()
    assert row.lease_owner == store.owner and row.lease_pid_start == process_start_time(os.getpid())


def test_one_helper_everywhere() -> None:
    """No module keeps its own `kill(pid, 0)` check."""
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[2] / "auditor"
    probe = re.compile(r"os\.kill\(\s*[\w.\[\]\"']+\s*,\s*0\s*\)")
    offenders = [
        str(p.relative_to(root)) for p in root.rglob("*.py") if probe.search(p.read_text()) and p.name != "liveness.py"
    ]
    assert offenders == []
    assert probe.search((root / "liveness.py").read_text())
