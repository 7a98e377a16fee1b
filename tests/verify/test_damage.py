"""Backups with known damage: each is detected with its own failure code and a message saying what to do.

The damage is applied to a local store (object lock would, rightly, stop us on S3); the verifier's
code path is the same for every store.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from pyrage import x25519

from auditor.backup import list_backups, run_backup, verify_backup
from auditor.backup.manifest import Manifest
from auditor.pgserver import ScratchPostgres

pytestmark = pytest.mark.slow

CHECKS = '[[sources.checks]]\nsql = "select count(*) from customers"\nexpect = "> 0"\n'


def _paths(setup, rec):
    root = setup.tmp / "store"
    return root / rec.object_key, root / rec.manifest_key


def _rewrite_manifest(mpath: Path, **changes):
    doc = json.loads(mpath.read_text())
    for k, v in changes.items():
        if k == "object":
            doc["object"].update(v)
        else:
            doc[k] = v
    mpath.write_text(json.dumps(doc))


@pytest.fixture
def backed_up(make_setup):
    setup = make_setup("local", source_extra=CHECKS)
    rec = run_backup(setup.config, "app")
    return setup, rec


def test_clean_backup_passes_full_and_is_listed(backed_up, pg_server):
    setup, rec = backed_up
    res = verify_backup(setup.config, rec.id, server=pg_server)
    assert res.outcome == "passed", res.message
    assert res.failure_code is None
    assert {t.name: t.found_rows for t in res.tables} == {
        "billing.Invoice Lines": 7,
        "public.customers": 50,
        "public.empty_table": 0,
        "public.orders": 300,
    }
    assert [c.passed for c in res.checks] == [True] and res.checks[0].value == 50
    (listed,) = list_backups(setup.state())
    assert listed.last_verification.outcome == "passed" and listed.last_verification.mode == "full"
    # the scratch database is dropped again
    with pg_server.connect() as conn:
        names = [r[0] for r in conn.execute("select datname from pg_database")]
    assert not [n for n in names if n.startswith("blastwall_verify_")]


def test_flipped_byte(backed_up, pg_server):
    setup, rec = backed_up
    obj, _ = _paths(setup, rec)
    data = bytearray(obj.read_bytes())
    data[len(data) // 2] ^= 0x01
    obj.write_bytes(bytes(data))
    for quick in (True, False):
        res = verify_backup(setup.config, rec.id, quick=quick, server=pg_server)
        assert res.failure_code == "checksum_mismatch", res.message
        assert "run a new" in res.message


def test_truncated_object(backed_up):
    setup, rec = backed_up
    obj, _ = _paths(setup, rec)
    obj.write_bytes(obj.read_bytes()[:1000])
    res = verify_backup(setup.config, rec.id, quick=True)
    assert res.failure_code == "size_mismatch" and "truncated" in res.message


def test_missing_manifest(backed_up):
    setup, rec = backed_up
    _, man = _paths(setup, rec)
    man.unlink()
    res = verify_backup(setup.config, rec.id, quick=True)
    assert res.failure_code == "manifest_missing" and "does not count" in res.message


def test_missing_object(backed_up):
    setup, rec = backed_up
    obj, _ = _paths(setup, rec)
    obj.unlink()
    res = verify_backup(setup.config, rec.id, quick=True)
    assert res.failure_code == "object_missing"


def test_manifest_counts_disagree(backed_up, pg_server):
    setup, rec = backed_up
    _, man = _paths(setup, rec)
    doc = json.loads(man.read_text())
    for t in doc["tables"]:
        if t["name"] == "orders":
            t["rows"] = 301
    man.write_text(json.dumps(doc))
    assert verify_backup(setup.config, rec.id, quick=True).outcome == "passed"  # quick cannot see this
    res = verify_backup(setup.config, rec.id, server=pg_server)
    assert res.failure_code == "count_mismatch"
    assert "public.orders: expected 301, found 300" in res.message
    bad = [t for t in res.tables if not t.ok]
    assert [(t.name, t.expected_rows, t.found_rows) for t in bad] == [("public.orders", 301, 300)]


def test_encrypted_to_another_key(make_setup, tmp_path, pg_server):
    theirs, ours = x25519.Identity.generate(), x25519.Identity.generate()
    (tmp_path / "ours.key").write_text(f"# created: test\n{ours}\n")
    setup = make_setup("local", encrypt_to=[str(theirs.to_public())], identities=[f"file:{tmp_path / 'ours.key'}"])
    rec = run_backup(setup.config, "app")
    res = verify_backup(setup.config, rec.id, quick=True)
    assert res.failure_code == "decrypt_failed" and "identit" in res.message


def test_encrypted_with_right_key_passes_full(make_setup, tmp_path, pg_server):
    ident = x25519.Identity.generate()
    (tmp_path / "id.key").write_text(f"{ident}\n")
    setup = make_setup("local", encrypt_to=[str(ident.to_public())], identities=[f"file:{tmp_path / 'id.key'}"])
    rec = run_backup(setup.config, "app")
    res = verify_backup(setup.config, rec.id, server=pg_server)
    assert res.outcome == "passed", res.message


def test_failing_assertion(make_setup, pg_server):
    checks = (
        '[[sources.checks]]\nsql = "select count(*) from customers"\nexpect = "> 0"\n'
        '[[sources.checks]]\nsql = "select count(*) from orders where total > 1000"\nexpect = "> 0"\n'
    )
    setup = make_setup("local", source_extra=checks)
    rec = run_backup(setup.config, "app")
    res = verify_backup(setup.config, rec.id, server=pg_server)
    assert res.failure_code == "assertion_failed"
    assert "total > 1000" in res.message and "found 0" in res.message
    assert [c.passed for c in res.checks] == [True, False]


def test_not_a_dump(backed_up):
    setup, rec = backed_up
    obj, man = _paths(setup, rec)
    junk = b"this is not a pg_dump archive\n" * 100
    obj.write_bytes(junk)
    _rewrite_manifest(man, object={"size": len(junk), "sha256": hashlib.sha256(junk).hexdigest()})
    res = verify_backup(setup.config, rec.id, quick=True)
    assert res.failure_code == "invalid_dump"


def test_restore_error(make_setup):
    """A policy for a role that the scratch server does not have: pg_restore fails; first lines reported."""
    setup = make_setup("local")
    setup.db.execute(
        "do $$ begin if not exists (select from pg_roles where rolname = 'bw_app_role') then "
        "create role bw_app_role; end if; end $$;"
        "alter table customers enable row level security;"
        "create policy p on customers to bw_app_role using (true);"
    )
    rec = run_backup(setup.config, "app")
    with ScratchPostgres(min_major=17) as fresh:  # a server without that role
        res = verify_backup(setup.config, rec.id, server=fresh)
    assert res.failure_code == "restore_failed", res.message
    assert "bw_app_role" in res.message


def test_results_are_recorded(backed_up):
    setup, rec = backed_up
    obj, _ = _paths(setup, rec)
    obj.write_bytes(obj.read_bytes()[:-1])
    verify_backup(setup.config, rec.id, quick=True)
    from auditor.backup.catalog import Catalog

    (v,) = Catalog(setup.state()).verifications(rec.id)
    assert v.outcome == "failed" and v.failure_code == "size_mismatch" and v.duration_s is not None
    assert v.mode == "quick" and v.message
    (listed,) = list_backups(setup.state())
    assert listed.last_verification.failure_code == "size_mismatch"


def test_latest_of_source_and_unknown_backup(backed_up):
    from auditor.errors import VerificationError

    setup, rec = backed_up
    assert verify_backup(setup.config, latest="app", quick=True).backup == rec.id
    assert verify_backup(setup.config, "app", sample="latest", mode="quick").backup == rec.id  # scheduler form
    with pytest.raises(VerificationError):
        verify_backup(setup.config, "app-nope", quick=True)
    assert Manifest  # imported for type clarity


def test_configured_scratch_server(make_setup, pg_server, monkeypatch):
    """[verify] scratch_url: restore into the user's own server; only our database is created and dropped."""
    from tests.support.pg import PgDatabase

    monkeypatch.setenv("SCRATCH_URL", PgDatabase(pg_server, "postgres").url)
    setup = make_setup("local", extra='\n[verify]\nscratch_url = "env:SCRATCH_URL"\n')
    rec = run_backup(setup.config, "app")
    with pg_server.connect() as conn:
        before = {r[0] for r in conn.execute("select datname from pg_database")}
    res = verify_backup(setup.config, rec.id)
    assert res.outcome == "passed", res.message
    with pg_server.connect() as conn:
        after = {r[0] for r in conn.execute("select datname from pg_database")}
    assert before == after


def _private_dirs(pg_server):
    return sorted(p.name for p in pg_server.tmpdir.iterdir() if p.name.startswith("private-"))


def test_decrypted_copy_is_private_and_removed(backed_up, pg_server, monkeypatch):
    """The plain dump is written 0600 into a 0700 directory of our own, and removed after the restore,
    after a failed check and when the verification is interrupted."""
    import os
    import stat

    from auditor.backup import verify as verify_mod

    setup, rec = backed_up
    seen = []
    real_run_tool = verify_mod._run_tool

    def spy(argv, env):
        dump = Path(argv[-1])
        seen.append(
            (stat.S_IMODE(dump.stat().st_mode), stat.S_IMODE(dump.parent.stat().st_mode), dump.parent.stat().st_uid)
        )
        return real_run_tool(argv, env)

    monkeypatch.setattr(verify_mod, "_run_tool", spy)
    assert verify_backup(setup.config, rec.id, server=pg_server).outcome == "passed"
    assert seen and seen[0][:2] == (0o600, 0o700) and seen[0][2] == os.geteuid()
    assert _private_dirs(pg_server) == []

    def interrupted(argv, env):
        raise KeyboardInterrupt

    monkeypatch.setattr(verify_mod, "_run_tool", interrupted)
    with pytest.raises(KeyboardInterrupt):
        verify_backup(setup.config, rec.id, server=pg_server)
    assert _private_dirs(pg_server) == []

    obj, _ = _paths(setup, rec)
    obj.write_bytes(obj.read_bytes()[:-1] + b"x")  # same size, other bytes
    assert verify_backup(setup.config, rec.id, server=pg_server).failure_code == "checksum_mismatch"
    assert _private_dirs(pg_server) == []
