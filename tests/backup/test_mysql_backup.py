"""MariaDB (real server) -> mariadb-dump -> SeaweedFS with object lock; counts from the dump stream."""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from auditor.backup import list_backups, run_backup, verify_backup
from auditor.backup.engines.mysql import RowCounter
from auditor.backup.manifest import Manifest
from auditor.backup.stores import MIN_PART, open_store
from auditor.errors import BackupError
from tests.backup.engines_env import MYSQL_EXPECTED

pytestmark = pytest.mark.slow


def _expected(setup):
    return {f"{setup.database}.{t}": n for t, n in MYSQL_EXPECTED.items()}


def test_mariadb_backup_lands_locked_with_counts(mysql_setup, seaweed):
    setup = mysql_setup("s3")
    rec = run_backup(setup.config, "app")
    assert rec.status == "complete"
    s3 = seaweed.client(writer=True)
    head = s3.head_object(Bucket=setup.bucket, Key=rec.object_key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert timedelta(hours=23) < head["ObjectLockRetainUntilDate"] - datetime.now(UTC) <= timedelta(days=1, minutes=5)
    body = s3.get_object(Bucket=setup.bucket, Key=rec.object_key)["Body"].read()
    manifest = Manifest.from_json(s3.get_object(Bucket=setup.bucket, Key=rec.manifest_key)["Body"].read())
    assert manifest.object.sha256 == hashlib.sha256(body).hexdigest() == rec.sha256
    assert manifest.source.kind == "mysql" and manifest.source.database == setup.database
    assert manifest.dump_tool.name == "mariadb-dump" and "MariaDB" in manifest.server_version
    assert manifest.expected_counts() == _expected(setup)
    assert manifest.gaps == () and manifest.point_in_time
    assert b"-- Dump completed" in body[-200:]
    assert setup.extra["password"].encode() not in body and setup.extra["password"] not in manifest.to_json().decode()
    # the counter agrees with the bytes stored
    c = RowCounter()
    c.feed(body)
    c.close()
    assert {f"{setup.database}.{k}": v for k, v in c.rows.items()} == _expected(setup)
    # and a full verification restores it into a scratch MariaDB and finds the same counts
    res = verify_backup(setup.config, rec.id)
    assert res.outcome == "passed", res.message
    assert {t.name: t.found_rows for t in res.tables} == _expected(setup)


def test_rows_inserted_during_the_dump_are_in_neither_counts_nor_dump(mysql_setup, seaweed):
    """A big first table spans several 5 MiB parts; inserts start after the first part is uploaded and keep
    going until the dump is done: none may be in the counts or in the dump."""
    setup = mysql_setup("s3")
    with setup.mysql() as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE a_big (id INT PRIMARY KEY, pad VARCHAR(600)) ENGINE=InnoDB")
        for start in range(0, 30000, 5000):
            cur.executemany(
                "INSERT INTO a_big VALUES (%s, %s)",
                [(i, hashlib.sha512(str(i).encode()).hexdigest() * 4) for i in range(start, start + 5000)],
            )
    store = open_store(setup.config.store("offsite"))
    store.part_size = MIN_PART  # type: ignore[attr-defined]
    stop = threading.Event()
    inserted = []

    def writer():
        with setup.mysql() as conn, conn.cursor() as cur:
            n = 0
            while not stop.is_set():
                cur.execute("INSERT INTO customers VALUES (%s, 'late')", (10000 + n,))
                cur.execute("INSERT INTO a_big VALUES (%s, 'late')", (100000 + n,))
                n += 1
                inserted.append(n)
                time.sleep(0.002)

    t = threading.Thread(target=writer, daemon=True)

    def progress(stage, **info):
        if stage == "part_uploaded" and not t.is_alive() and not stop.is_set():
            t.start()
            time.sleep(0.3)

    try:
        rec = run_backup(setup.config, "app", store=store, progress=progress)
    finally:
        stop.set()
        if t.is_alive():
            t.join(10)
    assert len(inserted) > 5, "the concurrent writer never ran"
    body = seaweed.client().get_object(Bucket=setup.bucket, Key=rec.object_key)["Body"].read()
    manifest = Manifest.from_json(seaweed.client().get_object(Bucket=setup.bucket, Key=rec.manifest_key)["Body"].read())
    counts = manifest.expected_counts()
    assert counts[f"{setup.database}.customers"] == 50
    assert counts[f"{setup.database}.a_big"] == 30000
    assert b"'late'" not in body
    with setup.mysql() as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM customers")
        assert cur.fetchone()[0] == 50 + len(inserted)
    res = verify_backup(setup.config, rec.id)  # COUNT(*) after the scratch restore agrees
    assert res.outcome == "passed", res.message


def test_non_innodb_table_is_a_coverage_gap(mysql_setup):
    setup = mysql_setup("local")
    with setup.mysql() as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE legacy (id INT) ENGINE=MyISAM")
        cur.execute("INSERT INTO legacy VALUES (1), (2)")
    rec = run_backup(setup.config, "app")
    manifest = Manifest.from_json((setup.tmp / "store" / rec.manifest_key).read_bytes())
    assert len(manifest.gaps) == 1 and "legacy" in manifest.gaps[0] and "MyISAM" in manifest.gaps[0]
    assert manifest.expected_counts()[f"{setup.database}.legacy"] == 2


def test_dump_failure_is_a_failed_backup(mysql_setup, mariadb):
    """The user loses SELECT on one table: mariadb-dump exits non-zero; no manifest, run failed."""
    setup = mysql_setup("local")
    user = setup.url.split("//")[1].split(":")[0]
    mariadb.admin(
        f"REVOKE SELECT ON {setup.database}.* FROM '{user}'@'%'",
        f"GRANT SELECT (id) ON {setup.database}.customers TO '{user}'@'%'",
        f"GRANT SHOW VIEW ON {setup.database}.* TO '{user}'@'%'",
    )
    with pytest.raises(BackupError) as err:
        run_backup(setup.config, "app")
    assert "mariadb-dump failed (exit" in err.value.message
    (rec,) = list_backups(setup.state())
    assert rec.status == "failed"
    assert not list((setup.tmp / "store").rglob("*.manifest.json"))
    assert setup.extra["password"] not in err.value.message + (rec.error or "")


def test_dump_tool_older_than_server_is_refused(mysql_setup, tmp_path):
    old = tmp_path / "mariadb-dump"
    old.write_text("#!/bin/sh\necho 'mariadb-dump  Ver 10.19 Distrib 10.3.39-MariaDB, for debian-linux-gnu'\n")
    old.chmod(0o755)
    setup = mysql_setup("local", source_extra=f'dump_tool = "{old}"')
    with pytest.raises(BackupError) as err:
        run_backup(setup.config, "app")
    assert "older than the server" in err.value.message and "10.11" in (err.value.hint or "")


def test_missing_client_names_the_debian_package(mysql_setup, monkeypatch):
    setup = mysql_setup("local", fill=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    import auditor.backup.engines.tools as tools

    monkeypatch.setattr(tools, "_SBIN", ())
    with pytest.raises(BackupError) as err:
        run_backup(setup.config, "app")
    assert "not installed" in err.value.message and "apt-get install mariadb-client" in (err.value.hint or "")


def test_row_counter_layouts():
    mysql_style = (
        b"-- MySQL dump 10.13\nCREATE TABLE `t` (\n  `a` int\n);\n"
        b"INSERT INTO `t` VALUES (1,'x),(y'),(2,'it\\'s'),(3,NULL),(4,0x2829);\n"
        b"INSERT INTO `t` VALUES (5,'\\\\'),(6,'(');\nCREATE TABLE `e` (\n  `b` int\n);\n-- Dump completed\n"
    )
    for size in (1, 3, 7, len(mysql_style)):
        c = RowCounter()
        for i in range(0, len(mysql_style), size):
            c.feed(mysql_style[i : i + size])
        c.close()
        assert c.rows == {"t": 6, "e": 0} and c.completed
    mariadb_style = (
        b"-- MariaDB dump 10.19\nCREATE TABLE `t` (\n  `a` int\n);\nINSERT INTO `t` VALUES\n"
        b"(1,'x),(y'),\n(2,'it\\'s'),\n(3,NULL),\n(4,0x2829);\nINSERT INTO `t` VALUES\n(5,'\\\\'),\n"
        b"(6,'(\\n(');\nCREATE TABLE `e` (\n  `b` int\n);\n-- Dump completed\n"
    )
    for size in (1, 5, len(mariadb_style)):
        c = RowCounter()
        for i in range(0, len(mariadb_style), size):
            c.feed(mariadb_style[i : i + size])
        c.close()
        assert c.rows == {"t": 6, "e": 0} and c.completed
