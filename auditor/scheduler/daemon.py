"""The daemon: APScheduler 3.x with its SQLAlchemy job store in the state database.

* Jobs come from the configuration and are synchronised into the job store at start. A job
  whose schedule did not change keeps its stored ``next_run_time``, so slots missed while the
  daemon was down are still due when it comes back.
* ``coalesce=True``: however many slots were missed, the job runs once (for the latest one).
  ``misfire_grace_time`` is ``[scheduler] misfire_grace_s`` (unset = run however late).
  ``max_instances=1``: one run per job at a time in this daemon; across daemons the claim
  refuses a new slot while a live daemon is still running the previous one.
* APScheduler 3.x does not support several schedulers sharing a job store (its locks are
  in-process). We share it anyway, on purpose, and make it safe with the claim table: both
  daemons may see the same due run time, only one INSERT of ``(job, slot)`` succeeds.
* `SlotExecutor` replaces APScheduler's thread pool so the run time APScheduler computed (the
  slot) reaches `Engine.process_due`, and so job threads are daemon threads: a SIGTERM that
  outlasts ``shutdown_timeout_s`` records the run as interrupted and the process can exit.

`Daemon.tick(now)` is the time-warp driver: APScheduler's due-job step (get due jobs, compute run
times, coalesce, submit, advance ``next_run_time``) with an injected clock, on the same job store.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from apscheduler.events import EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.executors.base import BaseExecutor
from apscheduler.job import Job
from apscheduler.jobstores.base import ConflictingIdError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING

from ..config import Config
from ..cron import cron_trigger
from ..state import StateDB
from .clock import Clock, SystemClock
from .engine import DIGEST_JOB_ID, Engine, RunReport
from .jobs import JobRunner
from .notify import Notifier, WebhookNotifier
from .store import retry_ddl

__all__ = ["JOBSTORE_TABLE", "Daemon", "SlotExecutor", "fire"]

log = logging.getLogger(__name__)

JOBSTORE_TABLE = "scheduler_apscheduler_jobs"


def fire(job_id: str) -> None:
    """The callable recorded in the job store. `SlotExecutor` runs jobs through the engine instead."""
    raise RuntimeError(f"job {job_id} must run through auditor.scheduler.daemon.SlotExecutor")


class SlotExecutor(BaseExecutor):  # type: ignore[misc]  # APScheduler 3.x ships no type hints
    """Runs each submission in its own daemon thread via `Engine.process_due`."""

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self._engine = engine

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        def target() -> None:
            try:
                self._engine.process_due(job.id, run_times)
            except BaseException as exc:  # noqa: BLE001
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                events = [JobExecutionEvent(EVENT_JOB_EXECUTED, job.id, job._jobstore_alias, rt) for rt in run_times]
                self._run_job_success(job.id, events)

        threading.Thread(target=target, name=f"blastwall-job-{job.id}", daemon=True).start()


class _Scheduler(BackgroundScheduler):  # type: ignore[misc]
    """APScheduler's BackgroundScheduler that processes jobs only while running.

    The stock main loop does one last `_process_jobs` after `shutdown()` (state STOPPED is not
    PAUSED), which would start a job during shutdown and advance its stored next run time.
    """

    def _process_jobs(self) -> float | None:
        if self.state != STATE_RUNNING:
            return None
        return super()._process_jobs()  # type: ignore[no-any-return]


class Daemon:
    def __init__(
        self,
        config: Config,
        *,
        db: StateDB | None = None,
        runner: JobRunner | None = None,
        clock: Clock | None = None,
        notifier: Notifier | None = None,
        owner: str | None = None,
    ) -> None:
        self.config = config
        self.db = db or StateDB(config.state.url)
        self.clock: Clock = clock or SystemClock()
        notifier = notifier if notifier is not None else WebhookNotifier.from_config(config.notifications)
        self.engine = Engine(config, self.db, runner=runner, clock=self.clock, notifier=notifier, owner=owner)
        self.owner = self.engine.owner
        self.jobstore = SQLAlchemyJobStore(engine=self.db.engine, tablename=JOBSTORE_TABLE)
        self.scheduler = _Scheduler(
            jobstores={"default": self.jobstore},
            executors={"default": SlotExecutor(self.engine)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": config.scheduler.misfire_grace_s},
            timezone=UTC,
        )
        self._stop = threading.Event()
        self._force = False
        self._signal: str | None = None
        self._opened = False

    # -- lifecycle -----------------------------------------------------------------------
    def open(self) -> None:
        """Register this daemon, close runs of dead daemons, sync the configured jobs into the store."""
        if self._opened:
            return
        now = self.clock.now()
        self.engine.store.register_daemon(self.owner, now)
        self.engine.heartbeat()
        retry_ddl(lambda: self.jobstore.jobs_t.create(self.db.engine, checkfirst=True))
        self.scheduler.start(paused=True)
        self.sync_jobs()
        self._opened = True

    def close(self) -> None:
        if self._opened:
            self.scheduler.shutdown(wait=False)
            self.engine.store.stop_daemon(self.owner, self.clock.now())
            self._opened = False

    def sync_jobs(self) -> None:
        now = self.clock.now()
        wanted: dict[str, tuple[Any, str]] = {}
        for spec in self.engine.specs.values():
            self.engine.store.register_job(spec.id, spec.kind, now)
            trig = spec.trigger()
            if trig is not None:
                wanted[spec.id] = (trig, spec.fingerprint())
        n = self.config.notifications
        if n.webhook_url is not None and n.digest == "daily":
            wanted[DIGEST_JOB_ID] = (
                cron_trigger(n.digest_schedule, n.digest_timezone),
                f"{n.digest_schedule}|{n.digest_timezone}",
            )
        for job in self.jobstore.get_all_jobs():
            if job.id not in wanted:
                log.info("removing %s from the job store: no longer configured", job.id)
                self.jobstore.remove_job(job.id)
        for job_id, (trig, fp) in wanted.items():
            existing = self.jobstore.lookup_job(job_id)
            first = trig.get_next_fire_time(None, now)
            if existing is not None:
                if existing.name == fp and existing.misfire_grace_time == self.config.scheduler.misfire_grace_s:
                    continue  # keep its next_run_time: slots missed while we were down stay due
                existing._modify(
                    trigger=trig, name=fp, next_run_time=first, misfire_grace_time=self.config.scheduler.misfire_grace_s
                )
                self.jobstore.update_job(existing)
                log.info("rescheduled %s: its schedule changed", job_id)
                continue
            try:
                self.scheduler.add_job(
                    fire, trigger=trig, args=(job_id,), id=job_id, name=fp, next_run_time=first, replace_existing=False
                )
            except ConflictingIdError:
                pass  # another daemon on this state database added it first

    # -- time-warp driver ----------------------------------------------------------------
    def tick(self, now: datetime | None = None) -> list[RunReport]:
        """Do one due-job step at `now` (default: the clock) synchronously; return what ran."""
        self.open()
        now = now or self.clock.now()
        reports: list[RunReport] = []
        for job in self.jobstore.get_due_jobs(now):
            run_times: Sequence[datetime] = job._get_run_times(now)
            if not run_times:
                continue
            if job.coalesce:
                run_times = run_times[-1:]
            reports += self.engine.process_due(job.id, list(run_times))
            nxt = job.trigger.get_next_fire_time(run_times[-1], now)
            if nxt is None:
                self.jobstore.remove_job(job.id)
            else:
                job._modify(next_run_time=nxt)
                self.jobstore.update_job(job)
        return reports

    def next_wakeup(self) -> datetime | None:
        nxt: datetime | None = self.jobstore.get_next_run_time()
        return nxt

    def run_until(self, end: datetime) -> list[RunReport]:
        """Advance a manual clock from one due time to the next until `end`, running every slot."""
        from .clock import ManualClock

        assert isinstance(self.clock, ManualClock), "run_until needs a ManualClock"
        self.open()
        reports: list[RunReport] = []
        while True:
            t = self.next_wakeup()
            if t is None or t > end:
                break
            if t > self.clock.now():
                self.clock.set(t)
            self.engine.heartbeat()
            reports += self.tick(self.clock.now())
        if self.clock.now() < end:
            self.clock.set(end)
        self.engine.heartbeat()
        return reports

    # -- the real thing ------------------------------------------------------------------
    def request_stop(self, reason: str = "stop requested") -> None:
        self._signal = self._signal or reason
        self._stop.set()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self._stop.is_set():  # second signal: stop waiting for running jobs
            log.warning("%s again: not waiting for running jobs", name)
            self.engine.stopping.set()
            self._force = True
            return
        log.warning(
            "%s received: no new runs; waiting up to %s s for running jobs",
            name,
            self.config.scheduler.shutdown_timeout_s,
        )
        self.request_stop(name)

    def run_forever(self, *, install_signals: bool = True) -> int:
        """Run until SIGTERM/SIGINT. Returns the process exit code (0 SIGTERM, 130 SIGINT)."""
        if install_signals:
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGINT, self._on_signal)
        self.open()
        self.scheduler.resume()
        log.info("daemon %s running %d job(s)", self.owner, len(self.engine.specs))
        hb = self.config.scheduler.heartbeat_s
        try:
            while not self._stop.wait(hb):
                try:
                    self.engine.heartbeat()
                except Exception as exc:  # noqa: BLE001 - a DB hiccup must not stop the daemon
                    log.warning("heartbeat failed: %s", type(exc).__name__)
        finally:
            self._shutdown()
        return 130 if self._signal == "SIGINT" else 0

    def _shutdown(self) -> None:
        self.scheduler.pause()  # no new submissions
        self.engine.stopping.set()  # runs still waiting out their jitter give up now
        deadline = time.monotonic() + self.config.scheduler.shutdown_timeout_s
        last_beat = 0.0
        while self.engine.active_runs() and time.monotonic() < deadline and not self._force:
            if time.monotonic() - last_beat >= 1.0:
                self.engine.heartbeat()  # other daemons must keep seeing us alive while we wait
                last_beat = time.monotonic()
            time.sleep(0.1)
        left = self.engine.interrupt_active(f"the daemon stopped ({self._signal or 'shutdown'}) while the job ran")
        if left:
            log.warning("recorded %d running job(s) as interrupted", len(left))
        self.close()
