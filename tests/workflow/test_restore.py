"""`blastwall restore` end to end against a real PostgreSQL target, through the CLI in subprocesses."""

from __future__ import annotations

import json
import re

import pytest

from auditor.backup import list_backups
from auditor.state import StateDB

from .pgrestore_env import RestoreEnv, content_checksum, row_counts

pytestmark = pytest.mark.slow

RUN_ID = re.compile(r"run_[0-9a-f]{12}")


def start(e: RestoreEnv, *extra: str) -> str:
    p = e.cli("restore", e.backup_id, "--target", "staging", "--config", str(e.config_path), *extra)
    assert p.returncode == 4, p.stdout + p.stderr
    run_id = RUN_ID.search(p.stdout).group(0)  # type: ignore[union-attr]
    assert f"blastwall approve {run_id} --as YOUR_NAME --plan-sha256 " in p.stdout
    return run_id


def show(e: RestoreEnv, run_id: str) -> dict:  # type: ignore[type-arg]
    """`runs show --json`, in-process (same state dir) to keep the test fast; also schema-checked."""
    import jsonschema
    from typer.testing import CliRunner

    from auditor.cli import app

    from .test_cli import schema

    res = CliRunner().invoke(app, ["runs", "show", run_id, "--json", "--config", str(e.config_path)])
    assert res.exit_code == 0, res.output
    e.logs.append(res.stdout)
    doc = json.loads(res.stdout)
    jsonschema.validate(doc, schema("runs-show.json"))
    return doc  # type: ignore[no-any-return]


def manifest_counts(e: RestoreEnv) -> dict[str, int]:
    from auditor.backup.manifest import Manifest
    from auditor.backup.stores import open_store

    cfg = e.config()
    rec = backup_record(e)
    store = open_store(cfg.store(rec.store))  # type: ignore[union-attr]
    return Manifest.from_json(store.read_bytes(rec.manifest_key)).expected_counts()  # type: ignore[union-attr]


def backup_record(e: RestoreEnv):  # type: ignore[no-untyped-def]
    return next(r for r in list_backups(StateDB(), "app") if r.id == e.backup_id)


def safety_dumps(e: RestoreEnv) -> list:  # type: ignore[type-arg]
    return list_backups(StateDB(), "safety-staging")


def test_without_approval_the_target_is_untouched(restore_env: RestoreEnv, canaries) -> None:  # type: ignore[no-untyped-def]
    e = restore_env
    before = e.target_checksum()
    run_id = start(e)
    doc = show(e, run_id)
    assert doc["state"] == "waiting_approval"
    plan = doc["plan"]
    assert plan["target"]["name"] == "staging" and plan["target"]["database"] == e.target_db
    assert {t["name"]: t["rows"] for t in plan["will_overwrite"]["tables"]} == {
        "public.customers": 3,
        "public.orders": 1,
        "public.only_here": 2,
    }
    assert plan["will_overwrite"]["size_bytes"] > 0
    assert plan["will_overwrite"]["left_as_is"] == ["public.only_here"]
    assert plan["backup"]["id"] == e.backup_id and plan["verification"]["outcome"] == "passed"
    assert plan["verification"]["mode"] == "full"
    assert doc["plan_sha256"] and doc["steps"][0]["state"] == "finished"
    assert [s["state"] for s in doc["steps"][3:]] == ["pending"] * 4
    assert e.target_checksum() == before
    p = e.cli("reject", run_id, "--as", "bob", "--config", str(e.config_path))
    assert p.returncode == 0 and "rejected" in p.stdout  # the rejection was recorded
    assert e.cli("runs", "resume", run_id, "--config", str(e.config_path)).returncode == 4
    assert show(e, run_id)["state"] == "rejected"
    assert e.target_checksum() == before
    assert safety_dumps(e) == []
    canaries.assert_absent(texts=e.logs, trees=[e.tmp])


@pytest.mark.parametrize("read_only_role", [False, True], ids=["url", "url+read_url"])
def test_with_approval_the_target_matches_the_manifest(
    restore_env_factory,
    canaries,  # type: ignore[no-untyped-def]
    read_only_role,
) -> None:
    e = restore_env_factory(read_only_role=read_only_role)
    with e.target() as c:
        before_counts = row_counts(c)
    run_id = start(e, "--as", "alice")
    sha = show(e, run_id)["plan_sha256"]
    p = e.cli("approve", run_id, "--as", "bob", "--comment", "ok", "--plan-sha256", sha, "--config", str(e.config_path))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "succeeded" in p.stdout and "safety dump of the target" in p.stdout
    expected = manifest_counts(e)
    with e.target() as c:
        after = row_counts(c)
    assert {k: after[k] for k in expected} == expected
    assert after["public.only_here"] == 2  # not in the backup: left as it was
    with e.source() as s, e.target() as t:
        s.execute("SET search_path = public")
        # every table of the backup has exactly the source's data
        t.execute("DROP TABLE only_here")
        assert content_checksum(t) == content_checksum(s)
    dumps = safety_dumps(e)
    assert len(dumps) == 1 and dumps[0].status == "complete"
    safety_manifest = e.tmp / "store" / dumps[0].manifest_key  # type: ignore[operator]
    assert safety_manifest.exists() and (e.tmp / "store" / dumps[0].object_key).exists()  # type: ignore[operator]
    assert {
        t["schema_name"] + "." + t["name"]: t["rows"] for t in json.loads(safety_manifest.read_text())["tables"]
    } == before_counts
    doc = show(e, run_id)
    assert doc["state"] == "succeeded" and all(s["attempts"] == 1 for s in doc["steps"])
    assert doc["decisions"][0]["by"] == "bob" and doc["decisions"][0]["plan_sha256"] == sha
    report = next(s for s in doc["steps"] if s["name"] == "report")
    assert report["state"] == "finished"
    canaries.assert_absent(texts=e.logs, trees=[e.tmp])


def test_wrong_plan_hash_expired_and_two_person(restore_env_factory, canaries) -> None:  # type: ignore[no-untyped-def]
    e = restore_env_factory(approvals='mode = "unauthenticated"\ntwo_person = true\nexpire_after_s = 3600')
    before = e.target_checksum()
    run_id = start(e, "--as", "alice")
    cfg = ("--config", str(e.config_path))
    p = e.cli("approve", run_id, "--as", "bob", "--plan-sha256", "0" * 64, *cfg)
    assert p.returncode == 4 and "but the run's plan is" in p.stderr
    p = e.cli("approve", run_id, "--as", "alice", *cfg)
    assert p.returncode == 4 and "two-person" in p.stderr
    assert show(e, run_id)["decisions"] == [] and e.target_checksum() == before
    # expiry with the real clock: a 1 s window
    e.config_path.write_text(e.config_path.read_text().replace("expire_after_s = 3600", "expire_after_s = 1"))
    import time

    time.sleep(1.5)
    p = e.cli("approve", run_id, "--as", "bob", *cfg)
    assert p.returncode == 4 and "expired" in p.stderr
    assert show(e, run_id)["state"] == "expired"
    assert e.target_checksum() == before and safety_dumps(e) == []
    canaries.assert_absent(texts=e.logs, trees=[e.tmp])


def test_target_changed_after_the_plan_refuses_to_restore(restore_env: RestoreEnv) -> None:
    e = restore_env
    run_id = start(e)
    with e.target() as c:
        c.execute("INSERT INTO customers VALUES (4, 'arrived after the plan')")
        changed = content_checksum(c)
    p = e.cli("approve", run_id, "--as", "bob", "--config", str(e.config_path))
    assert p.returncode == 1
    doc = show(e, run_id)
    assert doc["state"] == "failed" and "target changed since the plan" in doc["message"]
    assert doc["needs_human"] is False
    assert e.target_checksum() == changed


def test_damaged_backup_fails_verification_and_never_reaches_the_gate(restore_env: RestoreEnv) -> None:
    e = restore_env
    before = e.target_checksum()
    rec = backup_record(e)
    obj = e.tmp / "store" / rec.object_key  # type: ignore[operator,union-attr]
    data = bytearray(obj.read_bytes())
    data[len(data) // 2] ^= 0xFF
    obj.write_bytes(bytes(data))
    p = e.cli("restore", e.backup_id, "--target", "staging", "--config", str(e.config_path))
    assert p.returncode == 1, p.stdout + p.stderr
    run_id = RUN_ID.search(p.stdout).group(0)  # type: ignore[union-attr]
    doc = show(e, run_id)
    assert doc["state"] == "failed" and "checksum_mismatch" in doc["message"]
    assert doc["plan"] is None
    assert e.target_checksum() == before
