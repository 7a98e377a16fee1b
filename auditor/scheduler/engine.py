"""Running one slot of one job: claim, (jitter), run, record, notify.

Both drivers use this: the real daemon (APScheduler hands us due run times through
`SlotExecutor`) and the time-warp driver (`Daemon.tick`, which does APScheduler's due-job step
with an injected clock). So the no-double-run claim, misfire handling, outcomes and
notifications are the same code whichever drives them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..config import Config
from ..state import StateDB
from .clock import Clock, SystemClock
from .jobs import JobContext, JobResult, JobRunner, describe_exception
from .notify import Notifier, NullNotifier, critical_text, digest_text, failure_text
from .specs import JobSpec, jitter_delay, jobs_from_config, slot_key
from .store import ScheduleStore, iso, new_owner_id

__all__ = ["DIGEST_JOB_ID", "Engine", "RunReport"]

log = logging.getLogger(__name__)

DIGEST_JOB_ID = "digest:daily"


@dataclass(frozen=True)
class RunReport:
    job_id: str
    slot: str
    status: str  # succeeded | failed | interrupted | missed | taken | busy
    message: str = ""
    run_id: int | None = None


class Engine:
    def __init__(
        self,
        config: Config,
        db: StateDB,
        *,
        runner: JobRunner | None = None,
        clock: Clock | None = None,
        notifier: Notifier | None = None,
        owner: str | None = None,
    ) -> None:
        self.config = config
        self.db = db
        self.clock: Clock = clock or SystemClock()
        self.runner = runner or JobRunner()
        self.notifier: Notifier = notifier or NullNotifier()
        self.owner = owner or new_owner_id()
        hb = config.scheduler.heartbeat_s
        self.store = ScheduleStore(db, stale_after=timedelta(seconds=hb * 6))
        self.specs: dict[str, JobSpec] = {j.id: j for j in jobs_from_config(config)}
        self.stopping = threading.Event()
        self._active: dict[int, tuple[str, str, str]] = {}  # run id -> job, kind, slot
        self._active_lock = threading.Lock()

    @property
    def grace(self) -> timedelta | None:
        g = self.config.scheduler.misfire_grace_s
        return timedelta(seconds=g) if g else None

    # -- entry points --------------------------------------------------------------------
    def process_due(self, job_id: str, run_times: Sequence[datetime]) -> list[RunReport]:
        """Run the (already coalesced) due run times of one job, honouring the misfire grace."""
        reports = []
        for rt in run_times:
            now = self.clock.now()
            if job_id == DIGEST_JOB_ID:
                reports.append(self.run_digest(rt))
                continue
            spec = self.specs.get(job_id)
            if spec is None:
                log.warning("job %s is in the job store but not in the configuration; ignored", job_id)
                continue
            late = now - rt.astimezone(UTC)
            grace = self.grace
            if grace is not None and late > grace + timedelta(seconds=spec.jitter_s):
                msg = (
                    f"missed: slot {slot_key(rt)} is {int(late.total_seconds())} s late, more than "
                    f"[scheduler] misfire_grace_s = {self.config.scheduler.misfire_grace_s}"
                )
                if self.store.record_missed(job_id, spec.kind, slot_key(rt), self.owner, now, msg):
                    log.warning("%s: %s", job_id, msg)
                    self._notify_failure(spec, "missed", slot_key(rt), msg)
                reports.append(RunReport(job_id, slot_key(rt), "missed", msg))
                continue
            reports.append(self.run_slot(spec, rt))
        return reports

    def run_slot(self, spec: JobSpec, slot: datetime, *, manual: bool = False) -> RunReport:
        now = self.clock.now()
        key = f"manual:{iso(now)}:{new_owner_id().rsplit(':', 1)[1]}" if manual else slot_key(slot)
        claim = self.store.claim(spec.id, key, self.owner, now, manual=manual)
        if claim.status == "taken":
            log.info("%s slot %s: already %s; not running it again", spec.id, key, claim.detail)
            return RunReport(spec.id, key, "taken", claim.detail)
        if claim.status == "busy":
            log.warning("%s slot %s skipped: %s", spec.id, key, claim.detail)
            return RunReport(spec.id, key, "busy", claim.detail, claim.run_id)
        assert claim.run_id is not None
        run_id = claim.run_id
        with self._active_lock:
            self._active[run_id] = (spec.id, spec.kind, key)
        try:
            if not manual:
                delay = (slot.astimezone(UTC) + jitter_delay(spec.id, slot, spec.jitter_s)) - now
                if delay > timedelta(0) and self.clock.wait(delay.total_seconds(), self.stopping):
                    msg = "interrupted: the daemon stopped before the (jittered) start"
                    self.store.interrupt(run_id, spec.id, spec.kind, msg, self.clock.now())
                    self._notify_failure(spec, "interrupted", key, msg)
                    return RunReport(spec.id, key, "interrupted", msg, run_id)
            self.store.start(run_id, self.clock.now())
            ctx = JobContext(config=self.config, db=self.db, now=self.clock.now(), slot=key)
            log.info("running %s (slot %s)", spec.id, key)
            try:
                result = self.runner.run(spec, ctx)
            except BaseException as exc:
                result = JobResult("failed", describe_exception(exc))
                if not isinstance(exc, Exception):
                    self.store.finish(run_id, spec.id, spec.kind, "interrupted", result.message, self.clock.now())
                    raise
            return self._record(spec, run_id, key, result)
        finally:
            with self._active_lock:
                self._active.pop(run_id, None)

    def _record(self, spec: JobSpec, run_id: int, key: str, result: JobResult) -> RunReport:
        previous = self.store.statuses().get(spec.id)
        from .jobs import scrub

        message = scrub(result.message)
        crit_ids = [c.id for c in result.critical] if result.critical is not None else None
        if not self.store.finish(
            run_id, spec.id, spec.kind, result.outcome, message, self.clock.now(), critical_ids=crit_ids
        ):
            log.warning(
                "%s slot %s finished after it was recorded as interrupted; outcome %s not recorded",
                spec.id,
                key,
                result.outcome,
            )
            return RunReport(spec.id, key, "interrupted", message, run_id)
        log.info("%s slot %s: %s %s", spec.id, key, result.outcome, message)
        if result.outcome != "succeeded":
            self._notify_failure(spec, result.outcome, key, message)
        elif result.critical:
            known = set(previous.critical_ids) if previous else set()
            new = [c for c in result.critical if c.id not in known]
            if new:
                self.notifier.send(critical_text(spec.id, new))
        return RunReport(spec.id, key, result.outcome, message, run_id)

    def _notify_failure(self, spec: JobSpec, outcome: str, slot: str, message: str) -> None:
        try:
            self.notifier.send(failure_text(spec.id, spec.kind, outcome, slot, message))
        except Exception as exc:  # noqa: BLE001 - never let a notification break the scheduler
            log.warning("notification for %s failed: %s", spec.id, type(exc).__name__)

    # -- digest --------------------------------------------------------------------------
    def run_digest(self, slot: datetime) -> RunReport:
        now = self.clock.now()
        key = slot_key(slot)
        claim = self.store.claim(DIGEST_JOB_ID, key, self.owner, now)
        if claim.status != "claimed" or claim.run_id is None:
            return RunReport(DIGEST_JOB_ID, key, claim.status, claim.detail)
        since = slot.astimezone(UTC) - timedelta(days=1)
        runs = [r for r in self.store.finished_since(since) if r.job_id in self.specs]
        statuses = self.store.statuses()
        rows = []
        for jid in self.specs:
            mine = [r for r in runs if r.job_id == jid]
            ok = sum(1 for r in mine if r.state == "succeeded")
            bad = sum(1 for r in mine if r.state in ("failed", "interrupted", "missed"))
            st = statuses.get(jid)
            rows.append((jid, ok, bad, st.outcome if st else None, st.message if st else None))
        sent = self.notifier.send(digest_text(rows, f"{iso(since)} to {key}"))
        self.store.finish(
            claim.run_id,
            DIGEST_JOB_ID,
            "digest",
            "succeeded" if sent else "failed",
            "digest sent" if sent else "digest not delivered",
            self.clock.now(),
        )
        return RunReport(DIGEST_JOB_ID, key, "succeeded" if sent else "failed", "", claim.run_id)

    # -- liveness ------------------------------------------------------------------------
    def heartbeat(self) -> None:
        now = self.clock.now()
        self.store.heartbeat(self.owner, now)
        for r in self.store.reap_stale(now):
            spec = self.specs.get(r.job_id)
            log.warning("%s slot %s: %s", r.job_id, r.slot, r.message)
            if spec is not None:
                self._notify_failure(spec, "interrupted", r.slot, r.message or "interrupted")

    def active_runs(self) -> dict[int, tuple[str, str, str]]:
        with self._active_lock:
            return dict(self._active)

    def interrupt_active(self, reason: str) -> list[int]:
        """Record every run still in progress here as interrupted (the process is about to exit)."""
        closed = []
        for run_id, (job_id, kind, slot) in self.active_runs().items():
            msg = f"interrupted: {reason}"
            if self.store.interrupt(run_id, job_id, kind, msg, self.clock.now()):
                closed.append(run_id)
                spec = self.specs.get(job_id)
                if spec is not None:
                    self._notify_failure(spec, "interrupted", slot, msg)
        return closed
