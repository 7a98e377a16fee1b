"""What the audit and the CLI read from the backup catalogue: list, off-site backups as audit records,
verification findings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from ..config import Config
from ..errors import ConfigError
from ..model import Backup, Finding, Severity
from ..state import StateDB
from .catalog import BackupRecord, Catalog

__all__ = ["PROVIDER", "list_backups", "offsite_backups_for_audit", "verification_findings"]

PROVIDER = "blastwall"


def list_backups(db: StateDB, source: str | None = None) -> list[BackupRecord]:
    """Every catalogued backup (not pruned), newest first, each with its last verification.

    Runs found 'running' whose process is gone are marked failed first."""
    cat = Catalog(db)
    cat.reap_dead_runs()
    return cat.records(source)


def _protects(rec: BackupRecord) -> str:
    return rec.source_identity or f"blastwall:source:{rec.source}"


def offsite_backups_for_audit(config: Config, db: StateDB) -> list[Backup]:
    """For the audit report: each configured database's newest complete off-platform backup.

    `protects` is the source identity `postgres://host:port/dbname` (no credentials), or
    `blastwall:source:<name>` if unknown. `same_blast_radius` is False (the copy lives in a
    different store than the database), `dies_with_resource` is False, and `independent` is
    True only when the store is proven out of reach of its own credentials: COMPLIANCE object
    lock on the object, or a `check-store` that found backups neither deletable nor
    overwritable. Sources without any complete backup are not returned (see
    `verification_findings` for the finding).
    """
    cat = Catalog(db)
    out: list[Backup] = []
    seen: set[tuple[str, str]] = set()
    for b in config.backups:
        if (b.source, b.store) in seen:
            continue
        seen.add((b.source, b.store))
        rec = cat.newest_complete(b.source, b.store)
        if rec is None:
            continue
        scfg = config.store(b.store)
        reasons = [
            f"copy stored in {scfg.kind} store {scfg.name!r} ({rec.location}), outside the database's "
            "platform: deleting the database does not delete it"
        ]
        independent: bool | None = None
        check = cat.last_store_check(b.store)
        now = datetime.now(UTC)
        storage = storage_of(scfg)
        storage["compliance_lock_proven"] = compliance_covers(rec, check, now)
        if check is not None:
            storage["versioning"] = check[1].get("versioning")
            storage["object_lock"] = check[1].get("object_lock")
        if storage["compliance_lock_proven"] and not (
            rec.lock_mode == "COMPLIANCE" and rec.retain_until and rec.retain_until > now
        ):
            independent = True
            reasons.append(
                f"check-store on {check[0]:%Y-%m-%d} proved COMPLIANCE object lock whose retention "  # type: ignore[index]
                "covers the newest copy: no credential can delete it"
            )
        elif rec.lock_mode == "COMPLIANCE" and rec.retain_until and rec.retain_until > now:
            independent = True
            reasons.append(f"COMPLIANCE object lock until {rec.retain_until:%Y-%m-%d}: no credential can delete it")
        elif (
            check is not None
            and check[1].get("can_delete_backups") is False
            and check[1].get("can_overwrite_backups") is False
        ):
            independent = True
            reasons.append(
                f"check-store on {check[0]:%Y-%m-%d} found the store's credentials cannot delete or overwrite backups"
            )
        elif check is not None and check[1].get("can_delete_backups"):
            independent = False
            reasons.append("check-store found the store's own credentials can delete backups")
        else:
            reasons.append("not proven immutable: run `blastwall backup check-store " + b.store + "`")
        lv = rec.last_verification
        from .runner import source_via

        try:
            via = source_via(config.source(rec.source))
        except ConfigError:
            # Nothing is lost: the source was removed from the config since the backup ran, so there is no
            # platform reference to link it to; the backup is still listed, protecting its own source.
            via = None
        out.append(
            Backup(
                id=f"blastwall:backup:{rec.id}",
                provider=PROVIDER,
                protects=_protects(rec),
                location=rec.location or scfg.name,
                kind="offsite-dump",
                created_at=rec.created_at,
                dies_with_resource=False,
                # a copy outside the database's platform survives a DROP as well as the container's deletion,
                # counted once a restore of it has been verified
                survives_contents_loss=True if lv and lv.outcome == "passed" else None,
                independent=independent,
                same_blast_radius=False,
                reasons=tuple(reasons),
                last_verified_at=lv.at if lv and lv.outcome == "passed" else None,
                last_verification=lv.outcome if lv else None,
                metadata={
                    "label": "the off-platform dump",
                    "source": rec.source,
                    "store": rec.store,
                    "via": via,
                    "storage": storage,
                    "size": rec.size,
                    "sha256": rec.sha256,
                    "encrypted": rec.encrypted,
                    "age_s": int((now - rec.created_at).total_seconds()),
                    "last_verification_at": lv.at.isoformat() if lv else None,
                    "last_verification_code": lv.failure_code if lv else None,
                },
            )
        )
    return out


UNRELATED_S3 = "s3-compatible"


def storage_platforms() -> list[tuple[str, Any]]:
    """The loaded providers that implement `StoragePlatform` (see `auditor.storage_platform`)."""
    from ..registry import load_providers
    from ..storage_platform import StoragePlatform

    providers, _ = load_providers()
    return [(name, p) for name, p in sorted(providers.items()) if isinstance(p, StoragePlatform)]


def storage_of(scfg: Any) -> dict[str, Any]:
    """Where a store's copies live: ``platform`` (``aws``, ``cloudflare``, ``s3-compatible``, ``local``), its
    ``account`` when known, and the bucket. Credentials of that platform are judged against it; the
    engine treats any other platform's credentials as unrelated. Declared with `platform`/`account` in
    the store's config, else recognised from the endpoint by the provider of that platform (the
    `StoragePlatform` seam: e.g. no endpoint or ``*.amazonaws.com`` is AWS S3); anything else: S3-compatible."""
    from urllib.parse import urlparse

    if scfg.kind == "local":
        return {"platform": "local", "account": None, "location": scfg.path, "label": f"local directory {scfg.path}"}
    host = (urlparse(scfg.endpoint).hostname or "") if scfg.endpoint else ""
    platform, account = scfg.platform, scfg.account
    label: str | None = None
    for name, where in storage_platforms():
        loc = where.storage_at(host)
        if loc is not None and platform in (None, name):
            platform, label, account = name, loc.label, account or loc.account
            break
    if platform is None:
        platform = UNRELATED_S3
    label = label or (f"S3-compatible endpoint {host}" if platform == UNRELATED_S3 else f"{platform} storage {host}")
    if account:
        label += f" in account {account}"
    return {
        "platform": platform,
        "account": account,
        "bucket": scfg.bucket,
        "prefix": scfg.prefix,
        "region": scfg.region,
        "endpoint_host": host or None,
        "label": label,
    }


def compliance_covers(rec: BackupRecord, check: tuple[datetime, dict[str, Any]] | None, now: datetime) -> bool:
    """Is the newest copy under COMPLIANCE object lock right now? Either it was written with COMPLIANCE
    retention that has not ended (the store accepted the retention on the object), or `check-store`
    proved COMPLIANCE retention (its probe version carried it and could not be deleted) of a length that
    covers the copy's age."""
    if rec.lock_mode == "COMPLIANCE" and rec.retain_until and rec.retain_until > now:
        return True
    if check is None:
        return False
    lock = check[1].get("object_lock") or {}
    if str(lock.get("mode") or "").upper() != "COMPLIANCE" or not lock.get("days"):
        return False
    probed = any("object lock COMPLIANCE" in str(r) for r in check[1].get("reasons") or ())
    if check[1].get("can_delete_backups") is not False or not probed:
        return False
    return rec.created_at + timedelta(days=int(lock["days"])) > now


def _next_fire(schedule: str, tz: str, after: datetime) -> datetime | None:
    from zoneinfo import ZoneInfo

    from ..cron import cron_trigger  # crontab weekdays (0 = Sunday) and optional seconds field

    trig = cron_trigger(schedule, tz)
    nxt = trig.get_next_fire_time(None, after.astimezone(ZoneInfo(tz)))
    return nxt.astimezone(UTC) if nxt else None


def verification_findings(config: Config, db: StateDB, clock: Callable[[], datetime] | None = None) -> list[Finding]:
    """Audit findings about backups and their verification, per configured [[backups]] entry.

    Rules: `backup.missing` (no complete backup), `backup.stale` (a scheduled run should have
    produced a newer one), `backup.never_verified`, `backup.verification_stale` (older than
    `[verify] max_age_days`), `backup.verification_failed` (the newest backup's last
    verification failed).
    """
    now = (clock or (lambda: datetime.now(UTC)))()
    cat = Catalog(db)
    max_age = timedelta(days=config.verify.max_age_days)
    findings: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for b in config.backups:
        if (b.source, b.store) in seen:
            continue
        seen.add((b.source, b.store))
        subject = f"blastwall:source:{b.source}"
        rec = cat.newest_complete(b.source, b.store)
        if rec is None:
            findings.append(
                Finding.make(
                    "backup.missing",
                    Severity.high,
                    subject,
                    f"source {b.source!r} has no complete off-platform backup in store {b.store!r}",
                    f"run `blastwall backup run {b.source}` and schedule it (`schedule` in [[backups]])",
                    provider=PROVIDER,
                )
            )
            continue
        bsub = f"blastwall:backup:{rec.id}"
        if b.schedule:
            grace = timedelta(hours=1, seconds=b.jitter_s)
            due = _next_fire(b.schedule, b.timezone, rec.created_at + timedelta(minutes=5))
            if due is not None and due + grace < now:
                age = now - rec.created_at
                findings.append(
                    Finding.make(
                        "backup.stale",
                        Severity.high,
                        subject,
                        f"newest backup of {b.source!r} is {age.days}d {age.seconds // 3600}h old; schedule "
                        f"{b.schedule!r} implies one at {due:%Y-%m-%d %H:%M} UTC",
                        "check the scheduler (`blastwall schedule list`) and the failed runs in `blastwall backup list`",
                        provider=PROVIDER,
                    )
                )
        lv = rec.last_verification
        if lv is None:
            findings.append(
                Finding.make(
                    "backup.never_verified",
                    Severity.medium,
                    bsub,
                    f"newest backup {rec.id} of {b.source!r} has never been verified: an unrestored backup is a hope, "
                    "not a backup",
                    f"run `blastwall verify --latest {b.source}` and add a [[verifications]] schedule",
                    provider=PROVIDER,
                )
            )
            continue
        if lv.outcome == "failed":
            findings.append(
                Finding.make(
                    "backup.verification_failed",
                    Severity.high,
                    bsub,
                    f"the last verification of {rec.id} failed ({lv.failure_code}): {lv.message}",
                    "fix the cause named in the message, run a new backup, and verify it",
                    provider=PROVIDER,
                )
            )
        elif now - lv.at > max_age:
            findings.append(
                Finding.make(
                    "backup.verification_stale",
                    Severity.medium,
                    bsub,
                    f"the last verification of {b.source!r} backups was {(now - lv.at).days} days ago "
                    f"(max_age_days = {config.verify.max_age_days})",
                    f"run `blastwall verify --latest {b.source}` or schedule [[verifications]]",
                    provider=PROVIDER,
                )
            )
    return findings
