"""Scheduler tables in the state database: slot claims (the no-double-run lease), job outcomes, daemons.

A run starts by *claiming* its slot: one INSERT of ``(job_id, slot)`` into ``scheduler_runs``,
which has a unique constraint on that pair. Whichever daemon's INSERT commits first owns the
slot; every other daemon gets an integrity error and skips it. That holds on SQLite (a write
transaction is exclusive) and on PostgreSQL (the unique index serialises concurrent inserts), so
two daemons on one state database can never run the same slot twice, whatever their clocks or
job stores do.

All times are stored as UTC ISO-8601 strings (``2026-12-01T03:00:00Z``) so they compare and sort
the same way on every database. Messages are redacted before they get here; no secret is stored.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Boolean, Column, Integer, String, Table, Text, UniqueConstraint, and_, or_, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from ..liveness import ProcessRef, owner_gone
from ..state import StateDB, metadata

__all__ = [
    "FINISHED_STATES",
    "ClaimResult",
    "JobStatus",
    "RunRow",
    "ScheduleStore",
    "daemons_t",
    "iso",
    "jobs_t",
    "new_owner_id",
    "parse_iso",
    "runs_t",
]

Outcome = Literal["succeeded", "failed", "interrupted", "missed"]
FINISHED_STATES = ("succeeded", "failed", "interrupted", "missed")

runs_t = Table(
    "scheduler_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(200), nullable=False),
    Column("slot", String(64), nullable=False),  # UTC slot time, or "manual:<time>:<nonce>" for run-now
    Column("manual", Boolean, nullable=False, default=False),
    Column("owner", String(200), nullable=False),
    # claimed -> running -> succeeded | failed | interrupted; or skipped / missed straight away
    Column("state", String(16), nullable=False),
    Column("claimed_at", String(32), nullable=False),
    Column("started_at", String(32)),
    Column("finished_at", String(32)),
    Column("message", Text),
    UniqueConstraint("job_id", "slot", name="uq_scheduler_runs_job_slot"),
)

jobs_t = Table(
    "scheduler_jobs",
    metadata,
    Column("job_id", String(200), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("first_seen_at", String(32), nullable=False),
    Column("last_run_at", String(32)),  # when the last finished run finished
    Column("last_slot", String(64)),
    Column("outcome", String(16)),
    Column("message", Text),
    Column("critical_ids", Text),  # JSON list of critical finding ids (hashes) of the last audit
    Column("updated_at", String(32)),
)

daemons_t = Table(
    "scheduler_daemons",
    metadata,
    Column("owner", String(200), primary_key=True),
    Column("host", String(200), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("pidns", String(64), nullable=False, default=""),  # PID namespace: pid checks only within it
    Column("pid_start", String(32)),  # start time of pid, so a reused pid is not taken for the daemon
    Column("started_at", String(32), nullable=False),
    Column("heartbeat_at", String(32), nullable=False),
    Column("stopped_at", String(32)),
)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def retry_ddl(fn: Callable[[], Any], attempts: int = 5) -> None:
    """CREATE TABLE IF NOT EXISTS from two daemons starting together can collide on PostgreSQL."""
    for i in range(attempts):
        try:
            fn()
            return
        except DBAPIError:
            if i == attempts - 1:
                raise
            time.sleep(0.2 * (i + 1))


def new_owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class ClaimResult:
    status: Literal["claimed", "taken", "busy"]
    run_id: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class JobStatus:
    job_id: str
    kind: str
    first_seen_at: datetime
    last_run_at: datetime | None
    last_slot: str | None
    outcome: str | None
    message: str | None
    critical_ids: tuple[str, ...]


@dataclass(frozen=True)
class RunRow:
    id: int
    job_id: str
    slot: str
    manual: bool
    owner: str
    state: str
    claimed_at: str
    started_at: str | None
    finished_at: str | None
    message: str | None


class ScheduleStore:
    def __init__(self, db: StateDB, *, stale_after: timedelta = timedelta(seconds=60)) -> None:
        self.db = db
        self.stale_after = stale_after
        db.ensure_schema()

    # -- daemons -------------------------------------------------------------------------
    def register_daemon(self, owner: str, now: datetime) -> None:
        me = ProcessRef.current()
        with self.db.engine.begin() as c:
            c.execute(
                daemons_t.insert().values(
                    owner=owner,
                    host=owner.split(":")[0],
                    pid=me.pid,
                    pidns=me.pidns,
                    pid_start=me.start,
                    started_at=iso(now),
                    heartbeat_at=iso(now),
                )
            )

    def heartbeat(self, owner: str, now: datetime) -> None:
        with self.db.engine.begin() as c:
            c.execute(daemons_t.update().where(daemons_t.c.owner == owner).values(heartbeat_at=iso(now)))

    def stop_daemon(self, owner: str, now: datetime) -> None:
        with self.db.engine.begin() as c:
            c.execute(
                daemons_t.update().where(daemons_t.c.owner == owner).values(heartbeat_at=iso(now), stopped_at=iso(now))
            )

    def live_owners(self, now: datetime) -> set[str]:
        """Daemons that heart-beat recently - except those on this host whose process is gone.

        The pid check makes a restart on the same machine (systemd) see at once that the old
        process died, instead of waiting out the heartbeat window.
        """
        cutoff = iso(now - self.stale_after)
        with self.db.engine.connect() as c:
            rows = c.execute(
                select(
                    daemons_t.c.owner, daemons_t.c.host, daemons_t.c.pid, daemons_t.c.pidns, daemons_t.c.pid_start
                ).where(and_(daemons_t.c.stopped_at.is_(None), daemons_t.c.heartbeat_at >= cutoff))
            ).fetchall()
        me = os.getpid()
        # a row without a PID namespace (not Linux) cannot be checked: `owner_gone` needs one here
        return {
            r.owner for r in rows if not (r.pidns and r.pid != me and owner_gone(r.host, r.pid, r.pid_start, r.pidns))
        }

    # -- jobs ----------------------------------------------------------------------------
    def register_job(self, job_id: str, kind: str, now: datetime) -> None:
        with self.db.engine.begin() as c:
            if c.execute(select(jobs_t.c.job_id).where(jobs_t.c.job_id == job_id)).first():
                return
        try:
            with self.db.engine.begin() as c:
                c.execute(jobs_t.insert().values(job_id=job_id, kind=kind, first_seen_at=iso(now), updated_at=iso(now)))
        except IntegrityError:
            pass  # another daemon registered it at the same moment

    def statuses(self) -> dict[str, JobStatus]:
        with self.db.engine.connect() as c:
            rows = c.execute(select(jobs_t)).fetchall()
        out = {}
        for r in rows:
            out[r.job_id] = JobStatus(
                job_id=r.job_id,
                kind=r.kind,
                first_seen_at=parse_iso(r.first_seen_at),
                last_run_at=parse_iso(r.last_run_at) if r.last_run_at else None,
                last_slot=r.last_slot,
                outcome=r.outcome,
                message=r.message,
                critical_ids=tuple(json.loads(r.critical_ids)) if r.critical_ids else (),
            )
        return out

    # -- runs ----------------------------------------------------------------------------
    def claim(self, job_id: str, slot: str, owner: str, now: datetime, *, manual: bool = False) -> ClaimResult:
        """Atomically take (job_id, slot). `busy` when a live daemon is still running this job."""
        live = self.live_owners(now) | {owner}
        with self.db.engine.connect() as c:
            active = c.execute(
                select(runs_t.c.slot, runs_t.c.owner).where(
                    and_(runs_t.c.job_id == job_id, runs_t.c.state.in_(("claimed", "running")))
                )
            ).fetchall()
        busy = [r for r in active if r.owner in live]
        state, message = "claimed", None
        if busy:
            state, message = "skipped", f"previous run (slot {busy[0].slot}) still running on {busy[0].owner}"
        try:
            with self.db.engine.begin() as c:
                res = c.execute(
                    runs_t.insert().values(
                        job_id=job_id,
                        slot=slot,
                        manual=manual,
                        owner=owner,
                        state=state,
                        claimed_at=iso(now),
                        message=message,
                        finished_at=iso(now) if busy else None,
                    )
                )
                pk = res.inserted_primary_key
                assert pk is not None
                run_id = int(pk[0])
        except IntegrityError:
            with self.db.engine.connect() as c:
                by = c.execute(
                    select(runs_t.c.owner).where(and_(runs_t.c.job_id == job_id, runs_t.c.slot == slot))
                ).scalar()
            return ClaimResult("taken", None, f"claimed by {by}")
        if busy:
            return ClaimResult("busy", run_id, message or "")
        return ClaimResult("claimed", run_id)

    def record_missed(self, job_id: str, kind: str, slot: str, owner: str, now: datetime, message: str) -> bool:
        try:
            with self.db.engine.begin() as c:
                c.execute(
                    runs_t.insert().values(
                        job_id=job_id,
                        slot=slot,
                        manual=False,
                        owner=owner,
                        state="missed",
                        claimed_at=iso(now),
                        finished_at=iso(now),
                        message=message,
                    )
                )
        except IntegrityError:
            return False
        self._set_status(job_id, kind, "missed", message, slot, now)
        return True

    def start(self, run_id: int, now: datetime) -> None:
        with self.db.engine.begin() as c:
            c.execute(
                runs_t.update()
                .where(and_(runs_t.c.id == run_id, runs_t.c.state == "claimed"))
                .values(state="running", started_at=iso(now))
            )

    def finish(
        self,
        run_id: int,
        job_id: str,
        kind: str,
        outcome: Outcome,
        message: str,
        now: datetime,
        *,
        critical_ids: list[str] | None = None,
    ) -> bool:
        """Record the outcome; False when the run was already closed (e.g. marked interrupted)."""
        with self.db.engine.begin() as c:
            res = c.execute(
                runs_t.update()
                .where(and_(runs_t.c.id == run_id, runs_t.c.state.in_(("claimed", "running"))))
                .values(state=outcome, finished_at=iso(now), message=message)
            )
            slot = c.execute(select(runs_t.c.slot).where(runs_t.c.id == run_id)).scalar()
        if res.rowcount == 0:
            return False
        self._set_status(job_id, kind, outcome, message, slot, now, critical_ids=critical_ids)
        return True

    def _set_status(
        self,
        job_id: str,
        kind: str,
        outcome: str,
        message: str,
        slot: str | None,
        now: datetime,
        *,
        critical_ids: list[str] | None = None,
    ) -> None:
        values: dict[str, Any] = {
            "kind": kind,
            "last_run_at": iso(now),
            "last_slot": slot,
            "outcome": outcome,
            "message": message,
            "updated_at": iso(now),
        }
        if critical_ids is not None:
            values["critical_ids"] = json.dumps(sorted(critical_ids))
        with self.db.engine.begin() as c:
            res = c.execute(jobs_t.update().where(jobs_t.c.job_id == job_id).values(**values))
            if res.rowcount == 0:
                c.execute(jobs_t.insert().values(job_id=job_id, first_seen_at=iso(now), **values))

    def reap_stale(self, now: datetime) -> list[RunRow]:
        """Runs whose daemon died mid-run become `interrupted`. Returns the runs it closed."""
        live = self.live_owners(now)
        with self.db.engine.connect() as c:
            rows = c.execute(select(runs_t).where(runs_t.c.state.in_(("claimed", "running")))).fetchall()
        closed = []
        for r in rows:
            if r.owner in live:
                continue
            msg = f"interrupted: daemon {r.owner} stopped while the run was in progress"
            with self.db.engine.begin() as c:
                res = c.execute(
                    runs_t.update()
                    .where(and_(runs_t.c.id == r.id, runs_t.c.state.in_(("claimed", "running"))))
                    .values(state="interrupted", finished_at=iso(now), message=msg)
                )
                kind = c.execute(select(jobs_t.c.kind).where(jobs_t.c.job_id == r.job_id)).scalar()
            if res.rowcount:
                self._set_status(r.job_id, kind or r.job_id.split(":")[0], "interrupted", msg, r.slot, now)
                closed.append(_row(r, state="interrupted", message=msg))
        return closed

    def interrupt(self, run_id: int, job_id: str, kind: str, message: str, now: datetime) -> bool:
        return self.finish(run_id, job_id, kind, "interrupted", message, now)

    def runs(self, job_id: str | None = None, *, states: tuple[str, ...] | None = None) -> list[RunRow]:
        q = select(runs_t).order_by(runs_t.c.id)
        if job_id is not None:
            q = q.where(runs_t.c.job_id == job_id)
        if states is not None:
            q = q.where(runs_t.c.state.in_(states))
        with self.db.engine.connect() as c:
            return [_row(r) for r in c.execute(q).fetchall()]

    def latest_slot_run(self, job_id: str, since_slot: str) -> RunRow | None:
        """The newest scheduled run of `job_id` whose slot is at or after `since_slot`."""
        q = (
            select(runs_t)
            .where(and_(runs_t.c.job_id == job_id, runs_t.c.manual.is_(False), runs_t.c.slot >= since_slot))
            .order_by(runs_t.c.slot.desc())
            .limit(1)
        )
        with self.db.engine.connect() as c:
            r = c.execute(q).first()
        return _row(r) if r else None

    def active_runs(self) -> list[RunRow]:
        return self.runs(states=("claimed", "running"))

    def finished_since(self, since: datetime) -> list[RunRow]:
        q = (
            select(runs_t)
            .where(and_(runs_t.c.finished_at >= iso(since), or_(*[runs_t.c.state == s for s in FINISHED_STATES])))
            .order_by(runs_t.c.id)
        )
        with self.db.engine.connect() as c:
            return [_row(r) for r in c.execute(q).fetchall()]


def _row(r: Any, **override: Any) -> RunRow:
    d = {
        "id": r.id,
        "job_id": r.job_id,
        "slot": r.slot,
        "manual": bool(r.manual),
        "owner": r.owner,
        "state": r.state,
        "claimed_at": r.claimed_at,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "message": r.message,
    }
    d.update(override)
    return RunRow(**d)
