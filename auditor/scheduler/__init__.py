"""The scheduler daemon: audits, backups and verifications on cron schedules, once per slot.

Modules: `cron` (crontab expressions -> triggers), `specs` (jobs from the config), `store`
(claims, outcomes, daemons in the state DB), `jobs` (the `JobRunner` seam), `notify`
(webhooks), `engine` (one slot: claim, run, record, notify), `daemon` (APScheduler + job store,
signals, time-warp driver), `health` (`schedule list` rows, health check).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .clock import Clock, ManualClock, SystemClock
    from .daemon import Daemon
    from .engine import Engine, RunReport
    from .health import health_problems, job_rows
    from .jobs import JobContext, JobResult, JobRunner
    from .specs import JobSpec, find_job, jobs_from_config

_EXPORTS = {
    "Clock": "clock",
    "ManualClock": "clock",
    "SystemClock": "clock",
    "Daemon": "daemon",
    "Engine": "engine",
    "RunReport": "engine",
    "health_problems": "health",
    "job_rows": "health",
    "JobContext": "jobs",
    "JobResult": "jobs",
    "JobRunner": "jobs",
    "JobSpec": "specs",
    "find_job": "specs",
    "jobs_from_config": "specs",
}
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


def __getattr__(name: str) -> Any:  # PEP 562: a submodule is imported only when one of its names is used
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
