"""`schedule list` rows and the `daemon --healthcheck` verdict, read from the state database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import inspect, text

from ..config import Config
from ..cron import previous_slot
from ..state import StateDB
from .specs import JobSpec, jobs_from_config, slot_key
from .store import ScheduleStore, iso

__all__ = ["HealthProblem", "health_problems", "job_rows"]


@dataclass(frozen=True)
class HealthProblem:
    job: str | None
    problem: str

    def __str__(self) -> str:
        return f"{self.job}: {self.problem}" if self.job else self.problem


def _stored_next_runs(db: StateDB) -> dict[str, datetime | None]:
    from .daemon import JOBSTORE_TABLE

    if not inspect(db.engine).has_table(JOBSTORE_TABLE):
        return {}
    with db.engine.connect() as c:
        rows = c.execute(text(f"SELECT id, next_run_time FROM {JOBSTORE_TABLE}")).fetchall()
    return {r[0]: (datetime.fromtimestamp(r[1], UTC) if r[1] is not None else None) for r in rows}


def _next_run(spec: JobSpec, stored: dict[str, datetime | None], now: datetime) -> datetime | None:
    if spec.schedule is None:
        return None
    if spec.id in stored:  # what the daemon will do (may be in the past: due, e.g. while it is down)
        return stored[spec.id]
    trig = spec.trigger()
    return trig.get_next_fire_time(None, now) if trig else None


def job_rows(config: Config, db: StateDB, now: datetime | None = None) -> list[dict[str, Any]]:
    """The `schedule list --json` array."""
    now = now or datetime.now(UTC)
    store = ScheduleStore(db)
    statuses = store.statuses()
    stored = _stored_next_runs(db)
    rows = []
    for spec in jobs_from_config(config):
        st = statuses.get(spec.id)
        nxt = _next_run(spec, stored, now)
        last = None
        if st is not None and st.outcome is not None and st.last_run_at is not None:
            last = {"at": iso(st.last_run_at), "outcome": st.outcome, "message": st.message or ""}
        rows.append(
            {
                "job": spec.id,
                "kind": spec.kind,
                "schedule": spec.schedule,
                "timezone": spec.timezone,
                "next_run": iso(nxt) if nxt else None,
                "last_run": last,
            }
        )
    return rows


def health_problems(config: Config, db: StateDB, now: datetime | None = None) -> list[HealthProblem]:
    """Empty when healthy: every scheduled job's last run succeeded and none is overdue."""
    now = now or datetime.now(UTC)
    hb = config.scheduler.heartbeat_s
    store = ScheduleStore(db, stale_after=timedelta(seconds=hb * 6))
    statuses = store.statuses()
    live = store.live_owners(now)
    problems: list[HealthProblem] = []
    specs = [s for s in jobs_from_config(config) if s.schedule]
    if specs and not live:
        problems.append(HealthProblem(None, f"no daemon has sent a heartbeat in the last {hb * 6} s"))
    tolerance = timedelta(seconds=config.scheduler.overdue_after_s)
    for spec in specs:
        st = statuses.get(spec.id)
        if st is None:
            problems.append(
                HealthProblem(
                    spec.id,
                    "never registered by a daemon (is `blastwall daemon` running "
                    "with this configuration and state database?)",
                )
            )
            continue
        if st.outcome in ("failed", "interrupted", "missed"):
            when = iso(st.last_run_at) if st.last_run_at else "?"
            problems.append(HealthProblem(spec.id, f"last run {st.outcome} at {when}: {st.message or ''}".rstrip()))
        trig = spec.trigger()
        assert trig is not None
        expected = previous_slot(trig, now - tolerance - timedelta(seconds=spec.jitter_s))
        if expected is None or expected < st.first_seen_at:
            continue
        run = store.latest_slot_run(spec.id, slot_key(expected))
        if run is None:
            late = int((now - expected).total_seconds())
            problems.append(HealthProblem(spec.id, f"overdue: slot {slot_key(expected)} has not run ({late} s ago)"))
        elif run.state in ("claimed", "running") and run.owner not in live:
            problems.append(
                HealthProblem(spec.id, f"slot {run.slot} was left {run.state} by daemon {run.owner}, which has stopped")
            )
    return problems
