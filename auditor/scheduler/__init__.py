"""The scheduler daemon: audits, backups and verifications on cron schedules, once per slot.

Modules: `cron` (crontab expressions -> triggers), `specs` (jobs from the config), `store`
(claims, outcomes, daemons in the state DB), `jobs` (the `JobRunner` seam), `notify`
(webhooks), `engine` (one slot: claim, run, record, notify), `daemon` (APScheduler + job store,
signals, time-warp driver), `health` (`schedule list` rows, health check).
"""

from __future__ import annotations

from .clock import Clock, ManualClock, SystemClock
from .daemon import Daemon
from .engine import Engine, RunReport
from .health import health_problems, job_rows
from .jobs import JobContext, JobResult, JobRunner
from .specs import JobSpec, find_job, jobs_from_config

__all__ = [
    "Clock",
    "Daemon",
    "Engine",
    "JobContext",
    "JobResult",
    "JobRunner",
    "JobSpec",
    "ManualClock",
    "RunReport",
    "SystemClock",
    "find_job",
    "health_problems",
    "job_rows",
    "jobs_from_config",
]
