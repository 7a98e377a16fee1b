"""Redis (real server) -> redis-cli --rdb -> SeaweedFS with object lock; key counts from the RDB itself."""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from auditor.backup import run_backup, verify_backup
from auditor.backup.engines.rdb import RdbCounter
from auditor.backup.manifest import Manifest
from auditor.errors import BackupError
from tests.backup.engines_env import REDIS_EXPECTED

pytestmark = pytest.mark.slow


def test_redis_backup_lands_locked_with_counts_and_verifies(redis_setup, seaweed):
    setup = redis_setup(
        "s3",
        source_extra='[[sources.checks]]\nsql = "HGET config schema"\nexpect = "== 42"\n'
        '[[sources.checks]]\nsql = "@3 DBSIZE"\nexpect = "== 41"\n',
    )
    rec = run_backup(setup.config, "app")
    s3 = seaweed.client(writer=True)
    head = s3.head_object(Bucket=setup.bucket, Key=rec.object_key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert timedelta(hours=23) < head["ObjectLockRetainUntilDate"] - datetime.now(UTC) <= timedelta(days=1, minutes=5)
    body = s3.get_object(Bucket=setup.bucket, Key=rec.object_key)["Body"].read()
    manifest = Manifest.from_json(s3.get_object(Bucket=setup.bucket, Key=rec.manifest_key)["Body"].read())
    assert body.startswith(b"REDIS") and manifest.object.sha256 == hashlib.sha256(body).hexdigest() == rec.sha256
    assert manifest.source.kind == "redis" and manifest.point_in_time and manifest.dump_tool.format == "rdb-10"
    assert manifest.expected_counts() == REDIS_EXPECTED
    assert setup.extra["password"] not in manifest.to_json().decode()
    c = RdbCounter()
    c.feed(body)
    assert c.eof and {f"redis.db{k}": v for k, v in c.counts.items() if v} == REDIS_EXPECTED
    res = verify_backup(setup.config, rec.id)
    assert res.outcome == "passed", res.message
    assert {t.name: t.found_rows for t in res.tables} == REDIS_EXPECTED
    assert [ch.passed for ch in res.checks] == [True, True]


def test_keys_written_during_the_snapshot_are_not_in_it(redis_setup, seaweed):
    """Writes start once the server has forked (the RDB is streaming) and go on until the backup is done."""
    setup = redis_setup("s3")
    stop = threading.Event()
    written = []

    def writer():
        c = setup.redis()
        n = 0
        while not stop.is_set():
            c.set(f"late:{n}", "x")
            n += 1
            written.append(n)
            time.sleep(0.001)

    t = threading.Thread(target=writer, daemon=True)

    def progress(stage, **info):
        if stage == "dump_started":
            t.start()
            time.sleep(0.2)

    try:
        rec = run_backup(setup.config, "app", progress=progress)
    finally:
        stop.set()
        t.join(10)
    assert len(written) > 10
    body = seaweed.client().get_object(Bucket=setup.bucket, Key=rec.object_key)["Body"].read()
    manifest = Manifest.from_json(seaweed.client().get_object(Bucket=setup.bucket, Key=rec.manifest_key)["Body"].read())
    assert manifest.expected_counts() == REDIS_EXPECTED
    assert b"late:" not in body
    assert setup.redis().dbsize() == REDIS_EXPECTED["redis.db0"] + len(written)


def test_replication_refused_falls_back_to_scan_dump_not_point_in_time(redis_setup):
    setup = redis_setup(
        "local", user=("app", "pw-app-1", "~* -@all +@read +scan +dump +pttl +info +select +ping +client")
    )
    rec = run_backup(setup.config, "app")
    manifest = Manifest.from_json((setup.tmp / "store" / rec.manifest_key).read_bytes())
    assert manifest.point_in_time is False and manifest.dump_tool.name == "scan+dump"
    assert any("not point-in-time" in g for g in manifest.gaps)
    assert manifest.expected_counts() == REDIS_EXPECTED
    res = verify_backup(setup.config, rec.id)  # the RDB built from DUMP payloads loads into redis-server
    assert res.outcome == "passed", res.message
    assert {t.name: t.found_rows for t in res.tables} == REDIS_EXPECTED


def test_rdb_newer_than_local_server_is_a_coverage_gap(redis_setup):
    setup = redis_setup("local")
    rec = run_backup(setup.config, "app")
    mpath = setup.tmp / "store" / rec.manifest_key
    import json

    doc = json.loads(mpath.read_text())
    doc["server_version"], doc["dump_tool"]["format"] = "8.2.1", "rdb-12"
    mpath.write_text(json.dumps(doc))
    res = verify_backup(setup.config, rec.id)
    assert res.outcome == "failed" and res.failure_code == "no_scratch_server"
    assert "8.x or newer" in res.message and "Redis 7.4+" in res.message and "not a pass" in res.message


def test_missing_redis_cli_names_the_debian_package(redis_setup, monkeypatch):
    setup = redis_setup("local", fill=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    import auditor.backup.engines.tools as tools

    monkeypatch.setattr(tools, "_SBIN", ())
    with pytest.raises(BackupError) as err:
        run_backup(setup.config, "app")
    assert "redis-cli is not installed" in err.value.message and "apt-get install redis-tools" in err.value.hint
