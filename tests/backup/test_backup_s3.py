"""End to end: real PostgreSQL -> pg_dump -> real S3 with object lock (SeaweedFS)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from auditor.backup import list_backups, run_backup
from auditor.backup.manifest import Manifest
from tests.backup.conftest import EXPECTED

pytestmark = pytest.mark.slow


def test_backup_lands_locked_with_right_manifest(make_setup, seaweed):
    setup = make_setup("s3", lock=("COMPLIANCE", 1))
    rec = run_backup(setup.config, "app")
    assert rec.status == "complete" and rec.size and rec.sha256

    s3 = seaweed.client(writer=True)  # the store's own credentials
    head = s3.head_object(Bucket=setup.bucket, Key=rec.object_key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    until = head["ObjectLockRetainUntilDate"]
    assert timedelta(hours=23) < until - datetime.now(UTC) <= timedelta(days=1, minutes=5)
    mhead = s3.head_object(Bucket=setup.bucket, Key=rec.manifest_key)
    assert mhead["ObjectLockMode"] == "COMPLIANCE"  # retention on every object

    body = s3.get_object(Bucket=setup.bucket, Key=rec.object_key)["Body"].read()
    assert body[:5] == b"PGDMP"
    manifest = Manifest.from_json(s3.get_object(Bucket=setup.bucket, Key=rec.manifest_key)["Body"].read())
    assert manifest.object.sha256 == hashlib.sha256(body).hexdigest() == rec.sha256
    assert manifest.object.size == len(body) == rec.size
    assert manifest.expected_counts() == EXPECTED
    assert manifest.server_version.startswith("17") and manifest.dump_tool.major >= 17
    assert manifest.source.database == setup.db.name and manifest.snapshot

    # Deleting the backup with the store's credentials is refused by object lock.
    for key, vid in ((rec.object_key, head["VersionId"]), (rec.manifest_key, mhead["VersionId"])):
        with pytest.raises(ClientError) as err:
            s3.delete_object(Bucket=setup.bucket, Key=key, VersionId=vid)
        assert err.value.response["Error"]["Code"] == "AccessDenied"
        # and shortening the retention is refused too
        with pytest.raises(ClientError):
            s3.put_object_retention(
                Bucket=setup.bucket,
                Key=key,
                VersionId=vid,
                Retention={"Mode": "COMPLIANCE", "RetainUntilDate": datetime.now(UTC) + timedelta(minutes=1)},
            )
    # nothing secret in the manifest
    text = json.dumps(manifest.model_dump(mode="json"))
    assert setup.db.password not in text and seaweed.writer_secret not in text

    listed = list_backups(setup.state())
    assert [b.id for b in listed] == [rec.id] and listed[0].status == "complete"


def test_counts_come_from_the_dump_snapshot(make_setup, seaweed):
    """Rows written while the backup runs are in neither the counts nor the dump."""
    setup = make_setup("s3")
    seen = []

    def progress(stage, **info):
        if stage == "dump_started" and not seen:
            seen.append(stage)
            with setup.db.connect() as conn:
                conn.execute("insert into customers select g, 'late' from generate_series(1000, 1099) g")

    rec = run_backup(setup.config, "app", progress=progress)
    s3 = seaweed.client()
    manifest = Manifest.from_json(s3.get_object(Bucket=setup.bucket, Key=rec.manifest_key)["Body"].read())
    assert seen and manifest.expected_counts()["public.customers"] == 50


def test_encrypted_backup_is_age_and_not_plain(make_setup, seaweed, tmp_path):
    from pyrage import x25519

    ident = x25519.Identity.generate()
    setup = make_setup("s3", encrypt_to=[str(ident.to_public())])
    rec = run_backup(setup.config, "app")
    assert rec.object_key.endswith(".dump.age") and rec.encrypted
    body = seaweed.client().get_object(Bucket=setup.bucket, Key=rec.object_key)["Body"].read()
    assert body.startswith(b"age-encryption.org/v1") and b"PGDMP" not in body
    import pyrage

    assert pyrage.decrypt(body, [ident])[:5] == b"PGDMP"
