"""Every --json output of the backup area parses against its JSON Schema; stdout holds only that."""

from __future__ import annotations

import json

import pytest

from tests.backup.conftest import cli, run_cli
from tests.backup.schemas import validate

pytestmark = pytest.mark.slow


def _json(proc):
    assert proc.stdout.strip(), proc.stderr
    return json.loads(proc.stdout)  # the whole of stdout is one JSON document


def test_backup_run_list_verify_json_local(make_setup, canaries):
    setup = make_setup(
        "local", extra="", source_extra='[[sources.checks]]\nsql = "select count(*) from orders"\nexpect = "> 0"'
    )
    run = run_cli(setup, "backup", "run", "app", "--json")
    assert run.returncode == 0, run.stderr
    rec = _json(run)
    validate("backup-record", rec)
    assert rec["status"] == "complete" and rec["last_verification"] is None

    ver = cli(setup, "verify", rec["id"], "--json")
    assert ver.returncode == 0, ver.stderr + ver.stdout
    doc = _json(ver)
    validate("verify", doc)
    assert doc["outcome"] == "passed" and doc["mode"] == "full"
    assert {t["name"]: t["found_rows"] for t in doc["tables"]}["public.orders"] == 300
    assert doc["checks"] == [{"sql": "select count(*) from orders", "expect": "> 0", "value": 300, "passed": True}]

    quick = cli(setup, "verify", "--latest", "app", "--quick", "--json")
    assert quick.returncode == 0
    validate("verify", _json(quick))

    lst = cli(setup, "backup", "list", "--json")
    assert lst.returncode == 0
    docs = _json(lst)
    validate("backup-list", docs)
    assert docs[0]["id"] == rec["id"]
    assert docs[0]["last_verification"]["outcome"] == "passed"  # the result appears in backup list

    human = cli(setup, "backup", "list")
    assert rec["id"][:10] in human.stdout and "passed" in human.stdout

    prune = cli(setup, "backup", "prune", "--json")
    assert prune.returncode == 0
    validate("backup-prune", _json(prune))

    cs = cli(setup, "backup", "check-store", "offsite", "--json")
    assert cs.returncode == 3  # a local directory protects nothing: a problem found, not a crash
    doc = _json(cs)
    validate("check-store", doc)
    assert doc["can_delete_backups"] is True
    # no secret anywhere in what we printed or stored
    canaries.add(setup.db.password)
    canaries.assert_absent(
        texts=[run.stdout, run.stderr, ver.stdout, ver.stderr, lst.stdout],
        trees=[setup.tmp / "state", setup.tmp / "store"],
    )


def test_check_store_json_s3_compliance(make_setup, seaweed, canaries):
    setup = make_setup("s3", lock=("COMPLIANCE", 1))
    cs = cli(setup, "backup", "check-store", "offsite", "--json")
    doc = _json(cs)
    validate("check-store", doc)
    assert cs.returncode == 0, doc
    assert doc["can_delete_backups"] is False and doc["can_overwrite_backups"] is False
    assert doc["object_lock"] == {"mode": "COMPLIANCE", "days": 1}
    assert doc["versioning"] == "Enabled"
    canaries.add(seaweed.writer_secret)
    canaries.assert_absent(texts=[cs.stdout, cs.stderr])


def test_failed_run_json_and_exit_code(make_setup, monkeypatch):
    setup = make_setup("local")
    setup.env["SRC_DATABASE_URL"] = setup.db.url.rsplit("/", 1)[0] + "/no_such_database"
    run = run_cli(setup, "backup", "run", "app", "--json")
    assert run.returncode == 1
    doc = _json(run)
    validate("backup-record", doc)
    assert doc["status"] == "failed" and "no_such_database" in doc["error"]
    assert setup.db.password not in run.stdout + run.stderr


def test_verify_usage_error(make_setup):
    setup = make_setup("local")
    r = cli(setup, "verify")
    assert r.returncode == 2


def test_verify_of_a_damaged_backup_exits_3_and_an_error_exits_1(make_setup):
    """A verification that ran and found the backup bad is a problem found (3), never the code of a crash (1)."""
    setup = make_setup("local")
    run = run_cli(setup, "backup", "run", "app", "--json")
    assert run.returncode == 0, run.stderr
    rec = _json(run)
    biggest = max((p for p in (setup.tmp / "store").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    data = bytearray(biggest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    biggest.write_bytes(bytes(data))
    bad = cli(setup, "verify", rec["id"], "--quick", "--json")
    assert bad.returncode == 3, bad.stderr + bad.stdout
    assert _json(bad)["outcome"] == "failed"
    assert cli(setup, "verify", "no-such-backup").returncode == 1  # an error, not a finding
