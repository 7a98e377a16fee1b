"""Workflow runs in the state database: runs, steps, decisions and events.

Each write is its own committed transaction, so whatever is recorded survives a crash
(``kill -9``) of the process that wrote it. Secrets are never written here: step outputs are
checked by the runner before they reach `finish_step`.
"""

from __future__ import annotations

import json
import os
import secrets as _secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Boolean, Column, DateTime, Integer, String, Table, Text, and_, insert, select, update
from sqlalchemy.engine import Connection

from ..errors import StateError
from ..liveness import owner_gone, process_start_time
from ..state import StateDB, metadata
from .model import TERMINAL, TRANSITIONS, RunState, StepState

__all__ = ["DecisionRecord", "EventRecord", "RunRecord", "RunStore", "StepRecord", "new_run_id"]

runs_table = Table(
    "workflow_runs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("workflow", String(80), nullable=False),
    Column("state", String(32), nullable=False),
    Column("params", Text, nullable=False),
    Column("requested_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("plan", Text, nullable=True),
    Column("plan_sha256", String(64), nullable=True),
    Column("gate_step", String(80), nullable=True),
    Column("gate_opened_at", DateTime(timezone=True), nullable=True),
    Column("message", Text, nullable=True),
    Column("needs_human", Boolean, nullable=False, default=False),
    Column("lease_owner", String(200), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    # How decisions on this run are authenticated: "signed" or "unauthenticated" (said in every record).
    Column("approvals_mode", String(16), nullable=True),
    # The requester's signed request (two-person rule): the statement text and its SSH signature.
    Column("request_statement", Text, nullable=True),
    Column("request_signature", Text, nullable=True),
    Column("lease_pid_start", String(32), nullable=True),  # start time of the lease owner's pid
)

steps_table = Table(
    "workflow_steps",
    metadata,
    Column("run_id", String(40), primary_key=True),
    Column("name", String(80), primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("state", String(32), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("output", Text, nullable=True),
    Column("error", Text, nullable=True),
)

decisions_table = Table(
    "workflow_decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(40), nullable=False, index=True),
    Column("step", String(80), nullable=False),
    Column("by", String(200), nullable=False),
    Column("decision", String(16), nullable=False),  # approve | reject
    Column("at", DateTime(timezone=True), nullable=False),
    Column("plan_sha256", String(64), nullable=False),
    Column("comment", Text, nullable=True),
    # The statement the decision signs and its SSH signature (armoured SSHSIG); NULL when unsigned.
    Column("statement", Text, nullable=True),
    Column("signature", Text, nullable=True),
)

events_table = Table(
    "workflow_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(40), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("message", Text, nullable=False),
)


def new_run_id() -> str:
    return "run_" + _secrets.token_hex(6)


def _utc(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _utc_req(dt: datetime) -> datetime:
    out = _utc(dt)
    assert out is not None
    return out


def iso(dt: datetime | None) -> str | None:
    dt = _utc(dt)
    return dt.isoformat().replace("+00:00", "Z") if dt else None


@dataclass(frozen=True)
class RunRecord:
    id: str
    workflow: str
    state: RunState
    params: dict[str, Any]
    requested_by: str
    created_at: datetime
    updated_at: datetime
    plan: Any | None
    plan_sha256: str | None
    gate_step: str | None
    gate_opened_at: datetime | None
    message: str | None
    needs_human: bool
    approvals_mode: str | None = None
    request_statement: str | None = None
    request_signature: str | None = None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL


@dataclass(frozen=True)
class StepRecord:
    run_id: str
    name: str
    seq: int
    kind: str
    state: StepState
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    output: Any | None
    error: str | None


@dataclass(frozen=True)
class DecisionRecord:
    run_id: str
    step: str
    by: str
    decision: str
    at: datetime
    plan_sha256: str
    comment: str | None
    id: int = 0
    statement: str | None = None
    signature: str | None = None


@dataclass(frozen=True)
class EventRecord:
    at: datetime
    kind: str
    message: str


def _run(row: Any) -> RunRecord:
    return RunRecord(
        id=row.id,
        workflow=row.workflow,
        state=RunState(row.state),
        params=json.loads(row.params),
        requested_by=row.requested_by,
        created_at=_utc_req(row.created_at),
        updated_at=_utc_req(row.updated_at),
        plan=json.loads(row.plan) if row.plan is not None else None,
        plan_sha256=row.plan_sha256,
        gate_step=row.gate_step,
        gate_opened_at=_utc(row.gate_opened_at),
        message=row.message,
        needs_human=bool(row.needs_human),
        approvals_mode=row.approvals_mode,
        request_statement=row.request_statement,
        request_signature=row.request_signature,
    )


def _step(row: Any) -> StepRecord:
    return StepRecord(
        run_id=row.run_id,
        name=row.name,
        seq=row.seq,
        kind=row.kind,
        state=StepState(row.state),
        attempts=row.attempts,
        started_at=_utc(row.started_at),
        finished_at=_utc(row.finished_at),
        output=json.loads(row.output) if row.output is not None else None,
        error=row.error,
    )


def _this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{_secrets.token_hex(4)}"


class RunStore:
    """All reads and writes of workflow state. Every method commits before it returns."""

    LEASE = timedelta(hours=6)

    def __init__(self, db: StateDB) -> None:
        self.db = db
        db.ensure_schema()
        self.owner = _this_process()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.db.engine.begin() as conn:
            yield conn

    # -- runs ----------------------------------------------------------------------------
    def create_run(
        self,
        *,
        run_id: str,
        workflow: str,
        params: dict[str, Any],
        requested_by: str,
        steps: list[tuple[str, str]],
        now: datetime,
        approvals_mode: str | None = None,
    ) -> RunRecord:
        with self._tx() as c:
            c.execute(
                insert(runs_table).values(
                    id=run_id,
                    workflow=workflow,
                    state=RunState.PENDING.value,
                    params=json.dumps(params),
                    requested_by=requested_by,
                    created_at=now,
                    updated_at=now,
                    needs_human=False,
                    approvals_mode=approvals_mode,
                )
            )
            for seq, (name, kind) in enumerate(steps):
                c.execute(
                    insert(steps_table).values(
                        run_id=run_id, name=name, seq=seq, kind=kind, state=StepState.PENDING.value, attempts=0
                    )
                )
            c.execute(
                insert(events_table).values(
                    run_id=run_id, at=now, kind="created", message=f"{workflow} requested by {requested_by}"
                )
            )
        return self.run(run_id)

    def run(self, run_id: str) -> RunRecord:
        with self._tx() as c:
            row = c.execute(select(runs_table).where(runs_table.c.id == run_id)).first()
        if row is None:
            raise StateError(f"no run {run_id!r}", hint="list runs with: blastwall runs list")
        return _run(row)

    def runs(self, limit: int = 200) -> list[RunRecord]:
        with self._tx() as c:
            rows = c.execute(select(runs_table).order_by(runs_table.c.created_at.desc()).limit(limit)).all()
        return [_run(r) for r in rows]

    def set_state(
        self,
        run_id: str,
        state: RunState,
        now: datetime,
        *,
        message: str | None = None,
        needs_human: bool | None = None,
    ) -> RunRecord:
        with self._tx() as c:
            row = c.execute(select(runs_table.c.state).where(runs_table.c.id == run_id)).first()
            if row is None:
                raise StateError(f"no run {run_id!r}")
            current = RunState(row.state)
            if state != current and state not in TRANSITIONS[current]:
                raise StateError(f"run {run_id}: illegal transition {current} -> {state}")
            values: dict[str, Any] = {"state": state.value, "updated_at": now}
            if message is not None:
                values["message"] = message
            if needs_human is not None:
                values["needs_human"] = needs_human
            c.execute(update(runs_table).where(runs_table.c.id == run_id).values(**values))
            if state != current:
                c.execute(
                    insert(events_table).values(
                        run_id=run_id,
                        at=now,
                        kind="state",
                        message=f"{current} -> {state}" + (f": {message}" if message else ""),
                    )
                )
        return self.run(run_id)

    def set_plan(self, run_id: str, *, gate_step: str, plan: Any, plan_sha256: str, now: datetime) -> None:
        with self._tx() as c:
            c.execute(
                update(runs_table)
                .where(runs_table.c.id == run_id)
                .values(
                    plan=json.dumps(plan, sort_keys=True),
                    plan_sha256=plan_sha256,
                    gate_step=gate_step,
                    gate_opened_at=now,
                    updated_at=now,
                )
            )
            c.execute(
                insert(events_table).values(
                    run_id=run_id, at=now, kind="plan", message=f"plan sha256:{plan_sha256} presented at {gate_step}"
                )
            )

    def set_request(self, run_id: str, *, statement: str, signature: str, now: datetime) -> None:
        with self._tx() as c:
            c.execute(
                update(runs_table)
                .where(runs_table.c.id == run_id)
                .values(request_statement=statement, request_signature=signature, updated_at=now)
            )
            c.execute(
                insert(events_table).values(
                    run_id=run_id, at=now, kind="request", message="the request was signed by its requester"
                )
            )

    # -- leases: one process advances a run at a time -------------------------------------
    def acquire(self, run_id: str, now: datetime) -> None:
        with self._tx() as c:
            row = c.execute(
                select(runs_table.c.lease_owner, runs_table.c.lease_until, runs_table.c.lease_pid_start).where(
                    runs_table.c.id == run_id
                )
            ).first()
            if row is None:
                raise StateError(f"no run {run_id!r}")
            holder, until = row.lease_owner, _utc(row.lease_until)
            stale = holder is None or holder == self.owner or (until is not None and until < now)
            if not stale and holder is not None:
                host, pid, _ = holder.split(":", 2)
                stale = owner_gone(host, int(pid), row.lease_pid_start)
            if not stale:
                raise StateError(
                    f"run {run_id} is being advanced by another process ({holder.split(':')[0]}, "
                    f"pid {holder.split(':')[1]})",
                    hint="wait for it to finish, then look at: blastwall runs show " + run_id,
                )
            cond = runs_table.c.lease_owner.is_(None) if holder is None else runs_table.c.lease_owner == holder
            res = c.execute(
                update(runs_table)
                .where(and_(runs_table.c.id == run_id, cond))
                .values(
                    lease_owner=self.owner,
                    lease_until=now + self.LEASE,
                    lease_pid_start=process_start_time(os.getpid()),
                )
            )
            if res.rowcount != 1:
                raise StateError(f"run {run_id} was claimed by another process just now")

    def release(self, run_id: str) -> None:
        with self._tx() as c:
            c.execute(
                update(runs_table)
                .where(and_(runs_table.c.id == run_id, runs_table.c.lease_owner == self.owner))
                .values(lease_owner=None, lease_until=None, lease_pid_start=None)
            )

    # -- steps ---------------------------------------------------------------------------
    def steps(self, run_id: str) -> list[StepRecord]:
        with self._tx() as c:
            rows = c.execute(
                select(steps_table).where(steps_table.c.run_id == run_id).order_by(steps_table.c.seq)
            ).all()
        return [_step(r) for r in rows]

    def _step_update(self, run_id: str, name: str, now: datetime, event: str | None, **values: Any) -> None:
        with self._tx() as c:
            c.execute(
                update(steps_table)
                .where(and_(steps_table.c.run_id == run_id, steps_table.c.name == name))
                .values(**values)
            )
            c.execute(update(runs_table).where(runs_table.c.id == run_id).values(updated_at=now))
            if event:
                c.execute(insert(events_table).values(run_id=run_id, at=now, kind="step", message=event))

    def start_step(self, run_id: str, name: str, now: datetime) -> None:
        with self._tx() as c:
            c.execute(
                update(steps_table)
                .where(and_(steps_table.c.run_id == run_id, steps_table.c.name == name))
                .values(
                    state=StepState.STARTED.value,
                    started_at=now,
                    finished_at=None,
                    error=None,
                    attempts=steps_table.c.attempts + 1,
                )
            )
            c.execute(update(runs_table).where(runs_table.c.id == run_id).values(updated_at=now))
            c.execute(insert(events_table).values(run_id=run_id, at=now, kind="step", message=f"{name} started"))

    def finish_step(self, run_id: str, name: str, now: datetime, output_json: str | None) -> None:
        self._step_update(
            run_id, name, now, f"{name} finished", state=StepState.FINISHED.value, finished_at=now, output=output_json
        )

    def fail_step(self, run_id: str, name: str, now: datetime, error: str, state: StepState = StepState.FAILED) -> None:
        self._step_update(
            run_id, name, now, f"{name} {state}: {error}", state=state.value, finished_at=now, error=error
        )

    def wait_step(self, run_id: str, name: str, now: datetime) -> None:
        self._step_update(run_id, name, now, None, state=StepState.WAITING.value)

    def skip_step(self, run_id: str, name: str, now: datetime, why: str) -> None:
        self._step_update(run_id, name, now, f"{name} skipped: {why}", state=StepState.SKIPPED.value, finished_at=now)

    # -- decisions -----------------------------------------------------------------------
    def add_decision(
        self,
        *,
        run_id: str,
        step: str,
        by: str,
        decision: str,
        at: datetime,
        plan_sha256: str,
        comment: str | None,
        statement: str | None = None,
        signature: str | None = None,
    ) -> None:
        with self._tx() as c:
            c.execute(
                insert(decisions_table).values(
                    run_id=run_id,
                    step=step,
                    by=by,
                    decision=decision,
                    at=at,
                    plan_sha256=plan_sha256,
                    comment=comment,
                    statement=statement,
                    signature=signature,
                )
            )
            c.execute(
                insert(events_table).values(
                    run_id=run_id, at=at, kind="decision", message=f"{decision} by {by} for plan sha256:{plan_sha256}"
                )
            )

    def decisions(self, run_id: str) -> list[DecisionRecord]:
        with self._tx() as c:
            rows = c.execute(
                select(decisions_table).where(decisions_table.c.run_id == run_id).order_by(decisions_table.c.id)
            ).all()
        return [
            DecisionRecord(
                run_id=r.run_id,
                step=r.step,
                by=r.by,
                decision=r.decision,
                at=_utc_req(r.at),
                plan_sha256=r.plan_sha256,
                comment=r.comment,
                id=r.id,
                statement=r.statement,
                signature=r.signature,
            )
            for r in rows
        ]

    def events(self, run_id: str) -> list[EventRecord]:
        with self._tx() as c:
            rows = c.execute(
                select(events_table).where(events_table.c.run_id == run_id).order_by(events_table.c.id)
            ).all()
        return [EventRecord(at=_utc_req(r.at), kind=r.kind, message=r.message) for r in rows]

    def event(self, run_id: str, kind: str, message: str, now: datetime) -> None:
        with self._tx() as c:
            c.execute(insert(events_table).values(run_id=run_id, at=now, kind=kind, message=message))
