"""What the daemon runs: one `JobSpec` per `[[audits]]`, `[[backups]]` and `[[verifications]]` entry.

Job ids are stable, human-typeable names used by `schedule run-now JOB`, the job store, the
claim table and notifications: ``audit:<name>``, ``backup:<source>`` and
``verification:<source>``. When several ``[[backups]]`` share a source, their ids get the store
appended: ``backup:<source>@<store>``.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from apscheduler.triggers.cron import CronTrigger

from ..config import AuditJobConfig, BackupConfig, Config, VerificationConfig
from ..cron import cron_trigger
from ..errors import ConfigError

__all__ = ["JobKind", "JobSpec", "find_job", "jitter_delay", "jobs_from_config", "slot_key"]

JobKind = Literal["audit", "backup", "verification"]


@dataclass(frozen=True)
class JobSpec:
    id: str
    kind: JobKind
    schedule: str | None  # None: manual only (`schedule run-now`)
    timezone: str
    jitter_s: int
    entry: AuditJobConfig | BackupConfig | VerificationConfig

    def trigger(self) -> CronTrigger | None:
        return cron_trigger(self.schedule, self.timezone) if self.schedule else None

    def fingerprint(self) -> str:
        """Changes when the timing of the job changes (then the job store entry is rescheduled)."""
        return hashlib.sha256(f"{self.schedule}|{self.timezone}".encode()).hexdigest()[:16]


def jobs_from_config(config: Config) -> list[JobSpec]:
    jobs: list[JobSpec] = []
    for a in config.audits:
        jobs.append(JobSpec(f"audit:{a.name}", "audit", a.schedule, a.timezone, a.jitter_s, a))
    per_source = Counter(b.source for b in config.backups)
    for b in config.backups:
        jid = f"backup:{b.source}" if per_source[b.source] == 1 else f"backup:{b.source}@{b.store}"
        jobs.append(JobSpec(jid, "backup", b.schedule, b.timezone, b.jitter_s, b))
    seen: Counter[str] = Counter()
    for v in config.verifications:
        seen[v.source] += 1
        jid = f"verification:{v.source}" if seen[v.source] == 1 else f"verification:{v.source}#{seen[v.source]}"
        jobs.append(JobSpec(jid, "verification", v.schedule, v.timezone, v.jitter_s, v))
    ids = Counter(j.id for j in jobs)
    dup = sorted(i for i, n in ids.items() if n > 1)
    if dup:
        raise ConfigError(
            f"duplicate scheduled job(s): {', '.join(dup)}",
            file=config.path,
            hint="give each [[audits]] a distinct name and each backup a distinct source/store",
        )
    return jobs


def find_job(jobs: list[JobSpec], job_id: str) -> JobSpec:
    for j in jobs:
        if j.id == job_id:
            return j
    raise ConfigError(
        f"no job named {job_id!r}",
        hint="jobs: " + (", ".join(j.id for j in jobs) or "(none configured)") + "; see `blastwall schedule list`",
    )


def slot_key(slot: datetime) -> str:
    """The claim key of a scheduled slot: its UTC time, to the second (same on every daemon)."""
    from datetime import UTC

    return slot.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def jitter_delay(job_id: str, slot: datetime, jitter_s: int) -> timedelta:
    """Deterministic delay in [0, jitter_s] for this slot: every daemon agrees on it."""
    if jitter_s <= 0:
        return timedelta(0)
    h = int(hashlib.sha256(f"{job_id}|{slot_key(slot)}".encode()).hexdigest()[:8], 16)
    return timedelta(seconds=h % (jitter_s + 1))
