"""check-store probes, prune under retention, and the audit-facing API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from auditor.backup import (
    check_store,
    list_backups,
    offsite_backups_for_audit,
    prune_backups,
    run_backup,
    verification_findings,
    verify_backup,
)
from auditor.backup.catalog import Catalog
from tests.backup.schemas import validate

pytestmark = pytest.mark.slow


def test_check_store_unlocked_unversioned_bucket_is_deletable(make_setup, seaweed):
    setup = make_setup("s3", lock=None, bucket_lock=False)
    seaweed.client().put_bucket_versioning(Bucket=setup.bucket, VersioningConfiguration={"Status": "Suspended"})
    p = check_store(setup.config, "offsite", db=setup.state())
    validate("check-store", p.to_json())
    assert p.can_delete_backups is True and p.can_overwrite_backups is True and p.object_lock is None
    assert not p.protected


def test_check_store_governance_with_bypass_is_deletable(make_setup, seaweed):
    setup = make_setup("s3", lock=("GOVERNANCE", 1), writer=False)  # admin credentials can bypass
    p = check_store(setup.config, "offsite")
    assert p.object_lock == {"mode": "GOVERNANCE", "days": 1}
    assert p.can_delete_backups is True
    assert any("BypassGovernanceRetention succeeded" in r for r in p.reasons)
    assert not [
        k
        for k in seaweed.client().list_objects_v2(Bucket=setup.bucket).get("Contents", [])
        if not k["Key"].startswith("bw/.blastwall-probe/")
    ]  # never touches anything else


def test_check_store_never_touches_real_backups(make_setup, seaweed):
    setup = make_setup("s3", lock=("COMPLIANCE", 1))
    rec = run_backup(setup.config, "app")
    s3 = seaweed.client()
    before = s3.list_object_versions(Bucket=setup.bucket, Prefix="bw/app/")
    p = check_store(setup.config, "offsite", db=setup.state())
    assert p.protected
    after = s3.list_object_versions(Bucket=setup.bucket, Prefix="bw/app/")
    assert [v["VersionId"] for v in before["Versions"]] == [v["VersionId"] for v in after["Versions"]]
    assert "DeleteMarkers" not in after
    assert rec.id


def test_prune_local_respects_keep_days_and_keeps_newest(make_setup):
    setup = make_setup("local", keep_days=1)
    old = run_backup(setup.config, "app")
    new = run_backup(setup.config, "app")
    later = lambda: datetime.now(UTC) + timedelta(days=3)  # noqa: E731
    dry = prune_backups(setup.config, setup.state(), dry_run=True, clock=later)
    assert {(i.backup_id, i.action) for i in dry.items} == {(old.id, "would_delete"), (new.id, "kept")}
    assert (setup.tmp / "store" / old.object_key).exists()
    rep = prune_backups(setup.config, setup.state(), clock=later)
    validate("backup-prune", rep.to_json())
    assert rep.deleted == 1 and not (setup.tmp / "store" / old.object_key).exists()
    assert (setup.tmp / "store" / new.object_key).exists()
    assert [r.id for r in list_backups(setup.state())] == [new.id]
    # nothing is due yet in real time
    assert prune_backups(setup.config, setup.state()).items == []


def test_prune_s3_object_lock_refusal_is_expected(make_setup, seaweed):
    setup = make_setup("s3", lock=("COMPLIANCE", 1), keep_days=1)
    old = run_backup(setup.config, "app")
    run_backup(setup.config, "app")
    # catalogue thinks retention is over (clock 2 days ahead), but the store still holds the lock: refusal
    rep = prune_backups(setup.config, setup.state(), clock=lambda: datetime.now(UTC) + timedelta(days=2))
    item = next(i for i in rep.items if i.backup_id == old.id)
    assert item.action == "kept" and "expected" in item.reason
    assert seaweed.client().head_object(Bucket=setup.bucket, Key=old.object_key)
    # and with the real clock, the retain-until date alone keeps it
    rep2 = prune_backups(setup.config, setup.state(), clock=lambda: datetime.now(UTC) + timedelta(hours=25))
    assert rep2.deleted == 0


def test_audit_api_and_findings(make_setup, pg_server, seaweed):
    setup = make_setup("s3", lock=("COMPLIANCE", 1))
    db = setup.state()
    now = datetime.now(UTC)
    f0 = verification_findings(setup.config, db, lambda: now)
    assert [f.rule for f in f0] == ["backup.missing"]
    assert offsite_backups_for_audit(setup.config, db) == []

    rec = run_backup(setup.config, "app")
    (b,) = offsite_backups_for_audit(setup.config, db)
    assert b.same_blast_radius is False and b.dies_with_resource is False and b.independent is True
    assert b.protects.startswith("postgres://127.0.0.1:") and b.last_verified_at is None
    assert any("COMPLIANCE" in r for r in b.reasons)
    rules = {f.rule for f in verification_findings(setup.config, db, lambda: now)}
    assert rules == {"backup.never_verified"}

    res = verify_backup(setup.config, rec.id, server=pg_server)
    assert res.passed
    (b,) = offsite_backups_for_audit(setup.config, db)
    assert b.last_verified_at is not None and b.last_verification == "passed"
    assert verification_findings(setup.config, db, lambda: now) == []

    # 10 days later: the verification is stale and the daily schedule implies a newer backup
    later = now + timedelta(days=10)
    rules = {f.rule for f in verification_findings(setup.config, db, lambda: later)}
    assert rules == {"backup.verification_stale", "backup.stale"}

    # a failed verification is a finding of its own
    Catalog(db).update_run(rec.id, sha256="0" * 64)  # (catalogue only; the verifier reads the manifest)
    s3 = seaweed.client()
    s3.delete_object(Bucket=setup.bucket, Key=rec.manifest_key)  # adds a delete marker; the version stays locked
    res = verify_backup(setup.config, rec.id, quick=True)
    assert res.failure_code == "manifest_missing"
    rules = {f.rule for f in verification_findings(setup.config, db, lambda: now)}
    assert "backup.verification_failed" in rules
