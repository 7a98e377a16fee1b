"""Signed approvals of a real restore (PostgreSQL 17 target), through the CLI in subprocesses: an unsigned
approval is refused and the target stays byte-identical; a signature made on another machine (its own HOME
and key, only the .sig copied over) is accepted; the two-person rule with `restore --key`; no private key
material in logs, the state database or the audit report."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from .keys import Team_, enrol, make_person
from .pgrestore_env import RestoreEnv

pytestmark = pytest.mark.slow

RUN_ID = re.compile(r"run_[0-9a-f]{12}")


def _team(root: Path) -> Team_:
    etc = root / "etc"
    etc.mkdir(mode=0o755, parents=True)
    alice = make_person(root / "laptops", "alice@example.com")
    bob = make_person(root / "laptops", "bob@example.com", "ecdsa")
    return Team_(alice, bob, enrol(etc / "allowed_signers", [alice, bob]))


def _restore(e: RestoreEnv, *extra: str) -> str:
    p = e.cli("restore", e.backup_id, "--target", "staging", "--config", str(e.config_path), *extra)
    assert p.returncode == 4, p.stdout + p.stderr
    run_id = RUN_ID.search(p.stdout).group(0)  # type: ignore[union-attr]
    assert f"blastwall approve {run_id} --key " in p.stdout
    return run_id


def test_unsigned_approval_is_refused_and_a_signature_from_another_machine_passes(
    restore_env_factory, tmp_path, canaries
) -> None:  # type: ignore[no-untyped-def]
    team = _team(tmp_path / "org")
    e: RestoreEnv = restore_env_factory(approvals=f'allowed_signers = "{team.signers}"')
    cfg = ("--config", str(e.config_path))
    before = e.target_checksum()
    run_id = _restore(e)

    p = e.cli("approve", run_id, "--as", "alice@example.com", *cfg)
    assert p.returncode == 4 and "must be signed" in p.stderr and "a name alone" in p.stderr
    p = e.cli("runs", "resume", run_id, *cfg)
    assert p.returncode == 4 and "waiting_approval" in p.stdout
    assert e.target_checksum() == before  # byte-identical: nothing ran

    # bob's laptop: his own HOME and key; the statement travels there as text, only the .sig comes back
    p = e.cli("runs", "statement", run_id, "--as", "bob@example.com", *cfg)
    assert p.returncode == 0
    sig = team.bob.sign(p.stdout.encode(), tmp_path / "bobs-laptop")
    inbox = tmp_path / "runner-inbox"
    inbox.mkdir()
    shutil.copy(sig, inbox / "approval.sig")
    assert not (inbox / "statement.txt").exists()
    p = e.cli("approve", run_id, "--signature", str(inbox / "approval.sig"), "--as", "bob@example.com", *cfg)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "succeeded" in p.stdout
    assert e.target_checksum() != before

    # no private key material anywhere: logs, CLI output, the state database, the audit report
    for person in (team.alice, team.bob):
        for line in person.private_body():
            canaries.add(line)
    p = e.cli("audit", str(tmp_path / "org" / "etc"), "--no-home", "--no-env", "--offline", "--json", *cfg)
    assert '"approvals.signers_owned_by_runner"' in p.stdout and '"approvals.software_keys"' in p.stdout
    canaries.assert_absent(texts=e.logs, trees=[tmp_path / "state"])


def test_two_person_restore_signed_request_then_another_person(restore_env_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    team = _team(tmp_path / "org")
    e: RestoreEnv = restore_env_factory(approvals=f'two_person = true\nallowed_signers = "{team.signers}"')
    cfg = ("--config", str(e.config_path))
    p = e.cli("restore", e.backup_id, "--target", "staging", *cfg)
    assert p.returncode == 1 and "two-person rule needs a signed request" in p.stderr
    before = e.target_checksum()
    run_id = _restore(e, "--key", str(team.alice.key))  # the principal comes from the key's enrolment
    p = e.cli("approve", run_id, "--key", str(team.alice.key), *cfg)
    assert p.returncode == 4 and "alice@example.com requested this run and cannot approve it" in p.stderr
    assert e.target_checksum() == before
    p = e.cli("reject", run_id, "--key", str(team.eve_key(tmp_path)), "--as", "alice@example.com", *cfg)
    assert p.returncode == 4 and "not enrolled" in p.stderr
    p = e.cli("approve", run_id, "--key", str(team.bob.key), *cfg)
    assert p.returncode == 0 and "succeeded" in p.stdout, p.stdout + p.stderr
    show = e.cli("runs", "show", run_id, "--json", *cfg).stdout
    assert '"request_signed": true' in show and '"status": "verified"' in show
