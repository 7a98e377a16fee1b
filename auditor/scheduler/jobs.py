"""The `JobRunner` seam: what the daemon calls to run one job.

Each job kind is one function ``(spec, ctx) -> JobResult``. The defaults import the audit, backup
and verification modules lazily (so the scheduler loads, lists and health-checks without them);
tests inject their own functions.

A job function reports failure either by returning ``JobResult(outcome="failed", ...)`` or by
raising; the engine turns exceptions into a failed outcome with a redacted message.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..config import AuditJobConfig, BackupConfig, Config, VerificationConfig
from ..errors import BlastwallError
from ..redact import Redactor
from .specs import JobKind, JobSpec

if TYPE_CHECKING:
    from ..state import StateDB

__all__ = [
    "JobContext",
    "JobFunc",
    "JobResult",
    "JobRunner",
    "describe_exception",
    "run_audit_job",
    "run_backup_job",
    "run_verification_job",
    "scrub",
]


@dataclass(frozen=True)
class CriticalFinding:
    id: str
    summary: str  # "rule: subject" - no secret values (subjects are ids, names or paths)


@dataclass(frozen=True)
class JobResult:
    outcome: Literal["succeeded", "failed"]
    message: str = ""
    critical: tuple[CriticalFinding, ...] | None = None  # audits: every critical finding of this run
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobContext:
    config: Config
    db: StateDB
    now: datetime
    slot: str


JobFunc = Callable[[JobSpec, JobContext], JobResult]

log = logging.getLogger(__name__)

_URL_CREDS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^/@:\s]*):(?P<pw>[^/@\s]+)@")


def scrub(text: str, limit: int = 2000) -> str:
    """Last-line redaction for messages that go to the DB, logs and webhooks."""
    text = Redactor.global_().redact(text)
    text = _URL_CREDS.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:***@", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_exception(exc: BaseException) -> str:
    if isinstance(exc, BlastwallError):
        return scrub(exc.message)
    return scrub(f"{type(exc).__name__}: {exc}")


class JobRunner:
    """Dispatch by kind. `JobRunner()` uses the real audit/backup/verification code."""

    def __init__(
        self, *, audit: JobFunc | None = None, backup: JobFunc | None = None, verification: JobFunc | None = None
    ) -> None:
        self._funcs: dict[JobKind, JobFunc] = {
            "audit": audit or run_audit_job,
            "backup": backup or run_backup_job,
            "verification": verification or run_verification_job,
        }

    def run(self, spec: JobSpec, ctx: JobContext) -> JobResult:
        return self._funcs[spec.kind](spec, ctx)


# -- the real jobs ------------------------------------------------------------------------------


def _ensure_tables(db: StateDB) -> None:
    """The migrations create every table at once; this is a no-op once the daemon's store has run them."""
    db.ensure_schema()


def run_audit_job(spec: JobSpec, ctx: JobContext) -> JobResult:
    from ..audit import AuditOptions, run_audit
    from ..model import Severity

    entry = spec.entry
    assert isinstance(entry, AuditJobConfig)
    opts = AuditOptions(
        paths=tuple(Path(p).expanduser() for p in entry.paths),
        home=Path(entry.home).expanduser() if entry.home else None,
        include_env=entry.include_env,
        offline=entry.offline,
        config=ctx.config,
    )
    from .. import history

    _ensure_tables(ctx.db)
    result = run_audit(opts, db=ctx.db)
    try:  # audit history (new/resolved findings) is best effort, like `blastwall audit`
        diff = history.record_audit(ctx.db, result)
        result = result.model_copy(update={"changes": diff.to_dict(limit=500)})
    except Exception as exc:  # noqa: BLE001 - the scheduled audit itself succeeded
        log.warning("audit history not recorded (%s)", type(exc).__name__)
    from reports.interface import write_reports

    written = write_reports(result, entry.formats, Path(entry.output_dir).expanduser())
    critical = tuple(
        CriticalFinding(f.id, scrub(f"{f.rule}: {f.subject}", 300))
        for f in result.findings
        if f.severity == Severity.critical
    )
    gaps = len(result.coverage_gaps)
    msg = (
        f"{len(result.findings)} finding(s), {len(critical)} critical, {gaps} coverage gap(s); "
        f"wrote {', '.join(p.name for p in written)} to {entry.output_dir}"
    )
    return JobResult("succeeded", msg, critical=critical)


def run_backup_job(spec: JobSpec, ctx: JobContext) -> JobResult:
    from ..backup import run_backup

    entry = spec.entry
    assert isinstance(entry, BackupConfig)
    _ensure_tables(ctx.db)
    # raises BackupError when the backup fails (and records it failed in the backup catalogue)
    rec = run_backup(ctx.config, entry.source, db=ctx.db, store=entry.store)
    status = getattr(rec, "status", "complete")
    rid = getattr(rec, "id", "?")
    if status != "complete":
        err = getattr(rec, "error", None) or "backup did not complete"
        return JobResult("failed", scrub(f"backup {rid} of {entry.source}: {err}"))
    size = getattr(rec, "size", None)
    return JobResult(
        "succeeded",
        f"backup {rid} of {entry.source} to {entry.store} complete" + (f" ({size} bytes)" if size is not None else ""),
    )


def run_verification_job(spec: JobSpec, ctx: JobContext) -> JobResult:
    from ..backup import verify_backup

    entry = spec.entry
    assert isinstance(entry, VerificationConfig)
    # never raises for a bad backup (outcome/failure_code say); raises VerificationError when there is
    # nothing to verify or no tool to verify with - both are failed runs here
    _ensure_tables(ctx.db)
    res = verify_backup(ctx.config, entry.source, sample=entry.sample, mode=entry.mode, db=ctx.db)
    outcome = getattr(res, "outcome", None)
    msg = getattr(res, "message", "") or ""
    code = getattr(res, "failure_code", None)
    backup = getattr(res, "backup", "?")
    if outcome == "passed":
        return JobResult("succeeded", scrub(f"backup {backup} of {entry.source} verified ({entry.mode})"))
    return JobResult(
        "failed",
        scrub(
            f"verification of {entry.source} (backup {backup}) failed"
            + (f" [{code}]" if code else "")
            + (f": {msg}" if msg else "")
        ),
    )
