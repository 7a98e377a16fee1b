"""Gated restores into a real MariaDB target and a real Redis target, through the workflow runner.

Without approval the target is untouched; after approval it matches the backup, and the safety copy of the
target (a normal backup by its engine, in the same store) exists and verifies."""

from __future__ import annotations

import hashlib
import secrets

import pytest

from auditor.backup import list_backups, run_backup, verify_backup
from auditor.config import load_config
from auditor.state import StateDB
from auditor.workflow.model import RunState
from auditor.workflow.service import open_runner
from tests.backup.engines_env import MYSQL_EXPECTED, REDIS_EXPECTED

pytestmark = pytest.mark.slow

# A staging target; approvals are unauthenticated here (signed approvals have their own tests).
_TARGET = '\n[[targets]]\nname = "staging"\nkind = "{kind}"\nurl = "env:TARGET_URL"\n\n[approvals]\nmode = "unauthenticated"\n'


def _mysql_snapshot(conn) -> dict[str, str]:
    out = {}
    with conn.cursor() as cur:
        cur.execute(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
            "AND TABLE_TYPE = 'BASE TABLE'"
        )
        for (name,) in cur.fetchall():
            cur.execute(f"SELECT * FROM `{name}` ORDER BY 1")
            out[name] = hashlib.sha256(repr(cur.fetchall()).encode()).hexdigest()
    return out


def _runner(setup, monkeypatch):
    cfg = load_config(setup.path)
    return cfg, open_runner(cfg, environ=dict(__import__("os").environ))


def _approve_flow(setup, monkeypatch, backup_id, before, snapshot):
    cfg, runner = _runner(setup, monkeypatch)
    run = runner.start("restore", {"backup_id": backup_id, "target": "staging"}, "alice")
    assert run.state is RunState.WAITING, run
    assert snapshot() == before  # the plan step only read the target
    return cfg, runner, run


def test_mariadb_target_gated_restore(mysql_setup, mariadb, monkeypatch):
    tgt = "tgt_" + secrets.token_hex(3)
    user, pw = "own_" + secrets.token_hex(3), "pw-" + secrets.token_hex(8)
    mariadb.admin(
        f"CREATE DATABASE {tgt}",
        f"CREATE USER '{user}'@'%' IDENTIFIED BY '{pw}'",
        f"GRANT ALL ON {tgt}.* TO '{user}'@'%'",
    )
    monkeypatch.setenv("TARGET_URL", mariadb.url(user, pw, tgt))
    setup = mysql_setup("local", extra=_TARGET.format(kind="mysql"))
    rec = run_backup(setup.config, "app")
    with setup.mysql() as s:
        source_content = _mysql_snapshot(s)
    import pymysql

    def target():
        return pymysql.connect(unix_socket=str(mariadb.sock), user="root", password="", database=tgt, autocommit=True)

    with target() as t, t.cursor() as cur:
        cur.execute("CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(200))")
        cur.execute("INSERT INTO customers VALUES (1, 'old'), (2, 'old'), (3, 'old')")
        cur.execute("CREATE TABLE only_here (x INT)")
        cur.execute("INSERT INTO only_here VALUES (1), (2)")

    def snapshot():
        with target() as t:
            return _mysql_snapshot(t)

    before = snapshot()
    cfg, runner, run = _approve_flow(setup, monkeypatch, rec.id, before, snapshot)
    plan = runner.store.run(run.id).plan
    assert plan["target"]["database"] == tgt and "mariadb" in plan["action"]
    assert {t["name"]: t["rows"] for t in plan["will_overwrite"]["tables"]} == {
        f"{tgt}.customers": 3,
        f"{tgt}.only_here": 2,
    }
    assert plan["will_overwrite"]["left_as_is"] == [f"{tgt}.only_here"]
    # rejected: nothing after the gate ran
    runner.reject(run.id, "bob")
    assert snapshot() == before and list_backups(StateDB(cfg.state.url), "safety-staging") == []
    # approved: the target matches the backup
    run = runner.start("restore", {"backup_id": rec.id, "target": "staging"}, "alice")
    done = runner.approve(run.id, "bob", plan_sha256=run.plan_sha256)
    assert done.state is RunState.SUCCEEDED, done
    after = snapshot()
    assert {k: after[k] for k in source_content} == source_content
    assert after["only_here"] == before["only_here"]
    with target() as t, t.cursor() as cur:
        for table, n in MYSQL_EXPECTED.items():
            cur.execute(f"SELECT COUNT(*) FROM `{table}`")
            assert cur.fetchone()[0] == n
    (safety,) = list_backups(StateDB(cfg.state.url), "safety-staging")
    assert safety.status == "complete" and (setup.tmp / "store" / safety.manifest_key).exists()
    res = verify_backup(cfg, safety.id)
    assert res.outcome == "passed" and {t.name.split(".", 1)[1]: t.found_rows for t in res.tables} == {
        "customers": 3,
        "only_here": 2,
    }


def test_redis_target_gated_restore(redis_setup, monkeypatch):
    from tests.support.redis_server import RedisServer

    tserver = RedisServer().start()
    try:
        monkeypatch.setenv("TARGET_URL", tserver.url(None, tserver.password))
        setup = redis_setup("local", extra=_TARGET.format(kind="redis"))
        rec = run_backup(setup.config, "app")
        src = setup.redis()
        source_values = {k: src.dump(k) for k in src.keys("user:*")}
        t = tserver.client()
        t.set("user:1", "stale")
        t.set("only:here", "keep")
        t.delete("user:2")

        def snapshot():
            c = tserver.client()
            return {k: c.dump(k) for k in c.keys("*")}

        before = snapshot()
        cfg, runner, run = _approve_flow(setup, monkeypatch, rec.id, before, snapshot)
        plan = runner.store.run(run.id).plan
        assert {x["name"]: x["rows"] for x in plan["will_overwrite"]["tables"]} == {"redis.db0": 2}
        assert plan["will_overwrite"]["size_bytes"] > 0 and plan["will_overwrite"]["used_memory"]
        assert "RESTORE" in plan["action"] and "FLUSHALL" in plan["action"]
        assert {x["name"]: x["rows"] for x in plan["backup"]["tables"]} == REDIS_EXPECTED
        done = runner.approve(run.id, "bob", plan_sha256=run.plan_sha256)
        assert done.state is RunState.SUCCEEDED, done
        c = tserver.client()
        assert {k: c.dump(k) for k in c.keys("user:*")} == source_values
        assert c.get("only:here") == b"keep" and c.ttl("session") > 0
        assert c.hget("config", "schema") == b"42" and tserver.client(db=3).dbsize() == 41
        (safety,) = list_backups(StateDB(cfg.state.url), "safety-staging")
        assert safety.status == "complete"
        res = verify_backup(cfg, safety.id)  # the safety copy is an RDB of the target before the restore
        assert res.outcome == "passed" and {x.name: x.found_rows for x in res.tables} == {"redis.db0": 2}
    finally:
        tserver.stop()
