"""Signed approvals on the demo workflow with real `ssh-keygen` keys and signatures: forged rows in
SQLite and PostgreSQL, wrong signer/statement, revocation, two-person, key types, the signers file."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from auditor.cli import app
from auditor.config import SecretRef, parse_config
from auditor.errors import ConfigError
from auditor.workflow import ApprovalPolicy, ApprovalRefused, HumanGate, RunState, StepHooks, WebhookNotifier
from auditor.workflow.approvals import (
    SignersFileUnsafe,
    SshKeygen,
    Statement,
    approvals_findings,
    check_signers_file,
    decision_statement,
    parse_allowed_signers,
)
from auditor.workflow.runner import Runner
from tests.support.fakehttp import FakeHTTPServer

from .flows import make_runner, side_effects
from .keys import Person, enrol, make_person


class Team:
    def __init__(self, root: Path) -> None:
        self.root = root
        etc = root / "etc"
        etc.mkdir(mode=0o755)
        etc.chmod(0o755)
        self.alice = make_person(root / "laptops", "alice@example.com")
        self.bob = make_person(root / "laptops", "bob@example.com")
        self.eve = make_person(root / "agent", "eve@example.com")  # never enrolled
        self.signers = enrol(etc / "allowed_signers", [self.alice, self.bob])

    def gate(self, **kw: Any) -> HumanGate:
        return HumanGate(ApprovalPolicy(allowed_signers=self.signers, **kw))

    def sig(self, who: Person, stmt: Statement, tag: str = "") -> str:
        return who.sign(stmt.data(), self.root / "sigs" / f"{who.principal}{tag}").read_text()

    def approve(self, runner: Runner, run_id: str, who: Person, **kw: Any) -> Any:
        stmt = runner.statement(run_id, "approve", who.principal)
        return runner.approve(run_id, who.principal, signature=self.sig(who, stmt), statement=stmt.text(), **kw)


@pytest.fixture
def team(tmp_path: Path) -> Team:
    return Team(tmp_path)


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "effects.log"


@pytest.fixture
def env(canaries) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"DEMO_TOKEN": canaries.mint("demo_tok_{r}")}


def test_statement_is_canonical_and_printed_byte_exact(team, log_path, env, clock) -> None:  # type: ignore[no-untyped-def]
    runner = make_runner(team.gate(), clock=clock, environ=env)
    run = runner.start("demo", {"log": str(log_path), "target": "stag\ning", "backup_id": "b-1"}, "ops")
    stmt = runner.statement(run.id, "approve", "alice@example.com")
    text = stmt.text()
    assert text.splitlines()[0] == "blastwall approval statement v1"
    assert f"run: {run.id}\n" in text and "target: stag\\ning\n" in text and "backup: b-1\n" in text
    assert f"plan-sha256: {run.plan_sha256}\n" in text and "decision: approve\n" in text
    assert "gate-step: approval\n" in text and "principal: alice@example.com\n" in text
    assert "gate-opened-at: 2026-12-01T12:00:00Z\n" in text
    assert Statement.parse(text) == stmt
    cfg = team.root / "blastwall.toml"
    cfg.write_text(f'[approvals]\nallowed_signers = "{team.signers}"\n')
    res = CliRunner().invoke(app, ["runs", "statement", run.id, "--as", "alice@example.com", "--config", str(cfg)])
    assert res.exit_code == 0 and res.stdout_bytes == text.encode()
    res = CliRunner().invoke(
        app, ["runs", "statement", run.id, "--as", "bob@example.com", "--decision", "reject", "--config", str(cfg)]
    )
    assert res.stdout_bytes == decision_statement(runner.store.run(run.id), "reject", "bob@example.com").data()


def test_unsigned_approval_is_refused_and_a_signed_one_passes(team, log_path, env, clock) -> None:  # type: ignore[no-untyped-def]
    runner = make_runner(team.gate(), clock=clock, environ=env)
    run = runner.start("demo", {"log": str(log_path)}, "ops")
    assert run.state is RunState.WAITING
    with pytest.raises(ApprovalRefused, match="must be signed"):
        runner.approve(run.id, "alice@example.com")
    assert runner.store.decisions(run.id) == [] and "apply" not in side_effects(log_path)
    assert team.approve(runner, run.id, team.alice).state is RunState.SUCCEEDED
    assert side_effects(log_path).count("apply") == 1
    [d] = runner.store.decisions(run.id)
    assert d.signature and d.signature.startswith("-----BEGIN SSH SIGNATURE-----") and d.statement


# -- forged rows, straight into the state database -------------------------------------------


def _forge(runner: Runner, run_id: str, team: Team, insert: Any) -> None:
    run = runner.store.run(run_id)
    stmt = decision_statement(run, "approve", "alice@example.com")
    eve_sig = team.sig(team.eve, stmt, "-forged")  # a real signature, by a key nobody enrolled
    rows = [
        ("alice@example.com", None, None),  # no signature at all
        (
            "alice@example.com",
            stmt.text(),
            "-----BEGIN SSH SIGNATURE-----\nU1NIU0lHbWFkZXVw\n-----END SSH SIGNATURE-----\n",
        ),
        ("alice@example.com", stmt.text(), eve_sig),
    ]
    for by, text, sig in rows:
        insert(
            (
                run_id,
                run.gate_step,
                by,
                "approve",
                datetime(2026, 12, 1, 12, 0, 30, tzinfo=UTC),
                run.plan_sha256,
                "lgtm",
                text,
                sig,
            )
        )


SQL = (
    "INSERT INTO workflow_decisions (run_id, step, by, decision, at, plan_sha256, comment, statement, signature) "
    "VALUES ({})"
)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_forged_decision_rows_count_for_nothing_are_flagged_and_alerted(
    backend, team, log_path, env, clock, tmp_path, request
) -> None:  # type: ignore[no-untyped-def]
    if backend == "sqlite":
        db_file = tmp_path / "forge.db"
        url = f"sqlite:///{db_file}"

        def insert(values: tuple[Any, ...]) -> None:
            with sqlite3.connect(db_file) as c:
                v = list(values)
                v[4] = v[4].strftime("%Y-%m-%d %H:%M:%S.%f")
                c.execute(SQL.format(", ".join("?" * 9)), v)
    else:
        pg = request.getfixturevalue("pg_db")
        url = pg.url.replace("postgresql://", "postgresql+psycopg://", 1)

        def insert(values: tuple[Any, ...]) -> None:
            with psycopg.connect(pg.url, autocommit=True) as c:
                c.execute(SQL.format(", ".join(["%s"] * 9)), values)  # type: ignore[arg-type]

    got: list[dict[str, Any]] = []
    fake = FakeHTTPServer()

    @fake.route("POST", "/hook")
    def _hook(req):  # type: ignore[no-untyped-def]
        got.append(req.json())
        return 200, "ok"

    with fake:
        environ = {**env, "HOOK": f"{fake.url}/hook"}
        notifier = WebhookNotifier(SecretRef.parse("env:HOOK"), environ=environ)
        runner = make_runner(team.gate(), clock=clock, environ=environ, notifier=notifier, state_url=url)
        run = runner.start("demo", {"log": str(log_path)}, "ops")
        _forge(runner, run.id, team, insert)
        clock.advance(seconds=60)
        again = runner.advance(run.id)
        assert again.state is RunState.WAITING and "apply" not in side_effects(log_path)
        assert "0 of 1 approval(s)" in (again.message or "") and "3 decision(s) ignored" in (again.message or "")
        runner.advance(run.id)  # evaluated again: still waiting, no second alert for the same rows
        alerts = [g for g in got if "unverifiable" in str(g["text"])]
        assert len(alerts) == 3, got
        texts = " ".join(str(a["text"]) for a in alerts)
        assert "no signature" in texts and "not enrolled" in texts
        cfg = tmp_path / "show.toml"
        cfg.write_text(f'[state]\nurl = "{url}"\n[approvals]\nallowed_signers = "{team.signers}"\n')
        res = CliRunner().invoke(app, ["runs", "show", run.id, "--json", "--config", str(cfg)])
        doc = json.loads(res.stdout)
        assert [d["status"] for d in doc["decisions"]] == ["ignored"] * 3
        assert [d["verified"] for d in doc["decisions"]] == [False] * 3
        assert "no signature" in doc["decisions"][0]["reason"]
        assert "does not match this statement" in doc["decisions"][1]["reason"]
        assert "not enrolled" in doc["decisions"][2]["reason"]
        human = CliRunner().invoke(app, ["runs", "show", run.id, "--config", str(cfg)]).stdout
        assert human.count("IGNORED, unverified decision") == 3
        # a real approval still works next to the forged rows
        assert team.approve(runner, run.id, team.bob).state is RunState.SUCCEEDED
        runner.store.db.dispose()


def test_signed_reject_ends_the_run_and_a_forged_reject_row_does_not(team, log_path, env, clock) -> None:  # type: ignore[no-untyped-def]
    runner = make_runner(team.gate(), clock=clock, environ=env)
    run = runner.start("demo", {"log": str(log_path)}, "ops")
    runner.store.add_decision(  # a reject row nobody signed: it must not end (deny) the run either
        run_id=run.id,
        step="approval",
        by="bob@example.com",
        decision="reject",
        at=clock(),
        plan_sha256=run.plan_sha256 or "",
        comment="forged",
    )
    assert runner.advance(run.id).state is RunState.WAITING
    stmt = runner.statement(run.id, "reject", team.bob.principal)
    with pytest.raises(ApprovalRefused, match="a reject must be signed"):
        runner.reject(run.id, team.bob.principal)
    run = runner.reject(run.id, team.bob.principal, signature=team.sig(team.bob, stmt), comment="wrong target")
    assert run.state is RunState.REJECTED and "rejected by bob@example.com" in (run.message or "")
    assert side_effects(log_path).count("apply") == 0


# -- wrong signer, wrong statement -----------------------------------------------------------


def _refusal(runner: Runner, run_id: str, by: str, sig: str, statement: str | None = None) -> str:
    with pytest.raises(ApprovalRefused) as exc:
        runner.approve(run_id, by, signature=sig, statement=statement)
    assert runner.store.run(run_id).state is RunState.WAITING
    return exc.value.message


def test_wrong_signer_or_statement_is_refused_naming_the_mismatch(team, log_path, env, clock) -> None:  # type: ignore[no-untyped-def]
    runner = make_runner(team.gate(), clock=clock, environ=env)
    run = runner.start("demo", {"log": str(log_path)}, "ops")
    other = runner.start("demo", {"log": str(log_path)}, "ops")
    me = runner.statement(run.id, "approve", "alice@example.com")

    # 1. a valid signature by a key that is not in allowed_signers
    msg = _refusal(runner, run.id, "alice@example.com", team.sig(team.eve, me))
    assert "not enrolled" in msg and "SHA256:" in msg

    # 2. an enrolled key over another run's statement (only the .sig brought over)
    theirs = runner.statement(other.id, "approve", "alice@example.com")
    msg = _refusal(runner, run.id, "alice@example.com", team.sig(team.alice, theirs))
    assert f"it signs run {other.id}'s statement, not run {run.id}'s" in msg
    msg = _refusal(runner, run.id, "alice@example.com", team.sig(team.alice, theirs), theirs.text())
    assert f"run is '{other.id}', expected '{run.id}'" in msg

    # 3. over another plan SHA
    forged_plan = Statement(**{**me.__dict__, "plan_sha256": "0" * 64})
    msg = _refusal(runner, run.id, "alice@example.com", team.sig(team.alice, forged_plan), forged_plan.text())
    assert f"plan-sha256 is '{'0' * 64}', expected '{run.plan_sha256}'" in msg
    msg = _refusal(runner, run.id, "alice@example.com", team.sig(team.alice, forged_plan))
    assert "does not match this statement" in msg

    # 4. a reject presented as an approve
    rej = runner.statement(run.id, "reject", "alice@example.com")
    msg = _refusal(runner, run.id, "alice@example.com", team.sig(team.alice, rej))
    assert "it signs a reject of this run, presented as a approve" in msg
    msg = _refusal(runner, run.id, "alice@example.com", team.sig(team.alice, rej), rej.text())
    assert "decision is 'reject', expected 'approve'" in msg

    # 5. an enrolled key signing as somebody else
    as_bob = runner.statement(run.id, "approve", "bob@example.com")
    msg = _refusal(runner, run.id, "bob@example.com", team.sig(team.alice, as_bob))
    assert "enrolled as alice@example.com, not as bob@example.com" in msg

    assert runner.store.decisions(run.id) == []
    refused = [e.message for e in runner.store.events(run.id) if e.kind == "refused"]
    assert len(refused) == 8
    assert team.approve(runner, run.id, team.alice).state is RunState.SUCCEEDED


def test_cli_names_the_mismatch_from_the_signed_text_next_to_the_signature(team, log_path, env) -> None:  # type: ignore[no-untyped-def]
    runner = make_runner(team.gate(), environ=env)  # the real clock: the CLI below uses it too
    run = runner.start("demo", {"log": str(log_path)}, "ops")
    cfg = team.root / "blastwall.toml"
    cfg.write_text(f'[approvals]\nallowed_signers = "{team.signers}"\n')
    res = CliRunner().invoke(app, ["runs", "statement", run.id, "--as", team.alice.principal, "--config", str(cfg)])
    altered = res.stdout.replace(f"plan-sha256: {run.plan_sha256}", "plan-sha256: " + "e" * 64)
    sig = team.alice.sign(altered.encode(), team.root / "alice-out")  # writes statement.txt + statement.txt.sig
    res = CliRunner().invoke(
        app, ["approve", run.id, "--signature", str(sig), "--as", team.alice.principal, "--config", str(cfg)]
    )
    assert isinstance(res.exception, ApprovalRefused)
    assert f"plan-sha256 is '{'e' * 64}', expected '{run.plan_sha256}'" in res.exception.message
    assert runner.store.decisions(run.id) == []


# -- revocation and validity -------------------------------------------------------------------


def test_key_removed_after_approving_stops_counting(team, log_path, env, clock) -> None:  # type: ignore[no-untyped-def]
    runner = make_runner(team.gate(required=2), clock=clock, environ=env)
    run = runner.start("demo", {"log": str(log_path)}, "ops")
    assert team.approve(runner, run.id, team.alice).state is RunState.WAITING
    enrol(team.signers, [team.bob])  # alice's key is revoked before the run passed the gate
    run = team.approve(runner, run.id, team.bob)
    assert run.state is RunState.WAITING and "1 of 2 approval(s)" in (run.message or "")
    assert "not enrolled" in (run.message or "")
    assert "apply" not in side_effects(log_path)
    enrol(team.signers, [team.alice, team.bob])  # re-enrolled: her signature counts again
    assert runner.advance(run.id).state is RunState.SUCCEEDED


class RevokeAfterGate(StepHooks):
    def __init__(self, team: Team) -> None:
        self.team = team

    def after_step(self, name: str) -> None:
        if name == "approval":
            enrol(self.team.signers, [self.team.bob])


def test_revocation_between_gate_and_action_sends_the_run_back_to_waiting(team, log_path, env, clock) -> None:  # type: ignore[no-untyped-def]
    runner = make_runner(team.gate(), clock=clock, environ=env, crash=RevokeAfterGate(team))
    run = runner.start("demo", {"log": str(log_path)}, "ops")
    run = team.approve(runner, run.id, team.alice)
    assert run.state is RunState.WAITING and "waiting for approval again" in (run.message or "")
    assert "apply" not in side_effects(log_path)
    runner.hooks = StepHooks()
    assert team.approve(runner, run.id, team.bob).state is RunState.SUCCEEDED
    assert side_effects(log_path).count("apply") == 1


def test_valid_before_is_honoured_at_the_gate_clock(team, log_path, env, clock) -> None:  # type: ignore[no-untyped-def]
    enrol(team.signers, [team.alice], options='namespaces="blastwall-approval",valid-before="202612011230Z"')
    runner = make_runner(team.gate(required=1), clock=clock, environ=env)
    run = runner.start("demo", {"log": str(log_path)}, "ops")
    stmt = runner.statement(run.id, "approve", team.alice.principal)
    sig = team.sig(team.alice, stmt)
    clock.advance(minutes=31)  # 12:31Z: past valid-before
    msg = _refusal(runner, run.id, team.alice.principal, sig)
    assert "not valid at 2026-12-01T12:31:00Z" in msg and "expired" in msg
    clock.advance(minutes=-2)  # 12:29Z
    assert runner.approve(run.id, team.alice.principal, signature=sig).state is RunState.SUCCEEDED


def test_namespace_restriction_in_allowed_signers_is_enforced(team, log_path, env, clock) -> None:  # type: ignore[no-untyped-def]
    enrol(team.signers, [team.alice], options='namespaces="git"')
    runner = make_runner(team.gate(), clock=clock, environ=env)
    run = runner.start("demo", {"log": str(log_path)}, "ops")
    msg = _refusal(
        runner,
        run.id,
        team.alice.principal,
        team.sig(team.alice, runner.statement(run.id, "approve", team.alice.principal)),
    )
    assert "did not verify" in msg or "not enrolled" in msg


# -- two people, N people -----------------------------------------------------------------------


def test_two_person_rule_with_a_signed_request(team, log_path, env, clock) -> None:  # type: ignore[no-untyped-def]
    runner = make_runner(team.gate(two_person=True), clock=clock, environ=env)
    keygen = SshKeygen()
    run = runner.start(
        "demo", {"log": str(log_path)}, team.alice.principal, sign_request=lambda s: keygen.sign(team.alice.key, s)
    )
    assert run.state is RunState.WAITING and run.request_signature
    with pytest.raises(ApprovalRefused, match="requested this run and cannot approve it"):
        team.approve(runner, run.id, team.alice)
    assert team.approve(runner, run.id, team.bob).state is RunState.SUCCEEDED


def test_two_person_rule_needs_a_verified_request(team, log_path, env, clock) -> None:  # type: ignore[no-untyped-def]
    runner = make_runner(team.gate(two_person=True), clock=clock, environ=env)
    run = runner.start("demo", {"log": str(log_path)}, "bob@example.com")  # unsigned request
    with pytest.raises(ApprovalRefused, match="the request is not signed"):
        team.approve(runner, run.id, team.alice)
    # a request signed by a key that is not enrolled fails the run before anything runs
    keygen = SshKeygen()
    before = side_effects(log_path)
    with pytest.raises(ApprovalRefused, match="request signature does not verify"):
        runner.start(
            "demo", {"log": str(log_path)}, "eve@example.com", sign_request=lambda s: keygen.sign(team.eve.key, s)
        )
    assert side_effects(log_path) == before
    [failed] = [r for r in runner.store.runs() if r.requested_by == "eve@example.com"]
    assert failed.state is RunState.FAILED and "could not be signed" in (failed.message or "")


def test_one_key_enrolled_under_two_principals_counts_once(team, log_path, env, clock) -> None:  # type: ignore[no-untyped-def]
    team.signers.write_text(
        f"alice@example.com,alias@example.com {team.alice.public_key()}\n{team.bob.principal} {team.bob.public_key()}\n"
    )
    runner = make_runner(team.gate(required=2), clock=clock, environ=env)
    run = runner.start("demo", {"log": str(log_path)}, "ops")
    team.approve(runner, run.id, team.alice)
    alias = runner.statement(run.id, "approve", "alias@example.com")
    run = runner.approve(run.id, "alias@example.com", signature=team.sig(team.alice, alias, "-alias"))
    assert run.state is RunState.WAITING and "1 of 2" in (run.message or "")
    assert team.approve(runner, run.id, team.bob).state is RunState.SUCCEEDED


# -- key types ------------------------------------------------------------------------------------


@pytest.mark.parametrize("key_type", ["ed25519", "ecdsa", "rsa"])
def test_key_types_signed_by_real_ssh_keygen(key_type, tmp_path, log_path, env, clock) -> None:  # type: ignore[no-untyped-def]
    carol = make_person(tmp_path / "laptops", "carol@example.com", key_type)
    etc = tmp_path / "etc"
    signers = enrol(etc / "allowed_signers", [carol])
    runner = make_runner(HumanGate(ApprovalPolicy(allowed_signers=signers)), clock=clock, environ=env)
    run = runner.start("demo", {"log": str(log_path)}, "ops")
    stmt = runner.statement(run.id, "approve", carol.principal)
    sig = SshKeygen().sign(carol.key, stmt)  # what `approve --key` runs
    assert {"ed25519": "ssh-ed25519", "ecdsa": "ecdsa-sha2-nistp256", "rsa": "ssh-rsa"}[key_type] in carol.public_key()
    assert runner.approve(run.id, carol.principal, signature=sig).state is RunState.SUCCEEDED
    [review] = runner.review(run.id)
    assert review.verified is True and review.key and review.key.startswith("SHA256:")


def test_sk_key_lines_are_parsed_and_accepted_by_ssh_keygen(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """FIDO (sk-) keys: without an authenticator here we check that allowed-signers lines carrying the two sk-
    key types (public keys as `ssh-keygen -t ed25519-sk / ecdsa-sk` write them) are parsed by Blastwall and
    accepted by `ssh-keygen -Y find-principals`; the signature itself is verified by ssh-keygen exactly as for
    the other types (see test_sk_ed25519_signature_is_verified for a full signature)."""
    from .sk import sk_ecdsa_public_line, sk_ed25519_keypair

    ed = sk_ed25519_keypair()
    lines = f'dana@example.com namespaces="blastwall-approval" {ed.public_line}\nerin@example.com {sk_ecdsa_public_line()}\n'
    parsed = parse_allowed_signers(lines)
    assert [(s.principals, s.key_type) for s in parsed] == [
        (("dana@example.com",), "sk-ssh-ed25519@openssh.com"),
        (("erin@example.com",), "sk-ecdsa-sha2-nistp256@openssh.com"),
    ]
    f = tmp_path / "allowed_signers"
    f.write_text(lines)
    stmt = Statement(
        "run_x", "restore", "t", "b", "0" * 64, "approve", "approval", "2026-12-01T12:00:00Z", "dana@example.com"
    )
    sig = tmp_path / "s.sig"
    sig.write_text(ed.sign(stmt.data()))
    p = subprocess.run(
        ["ssh-keygen", "-Y", "find-principals", "-f", str(f), "-s", str(sig)], capture_output=True, text=True
    )
    assert p.returncode == 0 and p.stdout.split() == ["dana@example.com"], p.stderr


def test_sk_ed25519_signature_is_verified(tmp_path, log_path, env, clock) -> None:  # type: ignore[no-untyped-def]
    """A sk-ssh-ed25519@openssh.com SSHSIG made by a software model of a FIDO authenticator (the signature
    format of PROTOCOL.u2f: SHA-256 of the application, flags with user-presence, counter, SHA-256 of the
    data) is verified by the real ssh-keygen through the gate; with user-presence unset it is refused."""
    from .sk import sk_ed25519_keypair

    ed = sk_ed25519_keypair()
    signers = tmp_path / "etc" / "allowed_signers"
    signers.parent.mkdir()
    signers.write_text(f"dana@example.com {ed.public_line}\n")
    runner = make_runner(HumanGate(ApprovalPolicy(allowed_signers=signers)), clock=clock, environ=env)
    run = runner.start("demo", {"log": str(log_path)}, "ops")
    stmt = runner.statement(run.id, "approve", "dana@example.com")
    with pytest.raises(ApprovalRefused):
        runner.approve(run.id, "dana@example.com", signature=ed.sign(stmt.data(), touched=False))
    assert runner.approve(run.id, "dana@example.com", signature=ed.sign(stmt.data())).state is RunState.SUCCEEDED


# -- the signers file is part of the gate ---------------------------------------------------------


def test_group_or_world_writable_signers_file_or_directory_is_refused(team, log_path, env, clock) -> None:  # type: ignore[no-untyped-def]
    runner = make_runner(team.gate(), clock=clock, environ=env)
    run = runner.start("demo", {"log": str(log_path)}, "ops")
    stmt = runner.statement(run.id, "approve", team.alice.principal)
    sig = team.sig(team.alice, stmt)
    team.signers.chmod(0o664)
    with pytest.raises(SignersFileUnsafe) as exc:
        runner.approve(run.id, team.alice.principal, signature=sig)
    assert f"{team.signers} (owner root, mode 0664) is writable by group" in exc.value.message
    with pytest.raises(SignersFileUnsafe, match="refusing to open the approval gate"):
        runner.advance(run.id)
    team.signers.chmod(0o644)
    team.signers.parent.chmod(0o757)
    with pytest.raises(SignersFileUnsafe) as exc:
        runner.approve(run.id, team.alice.principal, signature=sig)
    assert f"directory {team.signers.parent} (owner root, mode 0757) is writable by others" in exc.value.message
    assert runner.store.decisions(run.id) == [] and "apply" not in side_effects(log_path)
    # the only way past: allow_writable_signers = true (itself a finding, below)
    lax = make_runner(team.gate(allow_writable_signers=True), clock=clock, environ=env)
    assert lax.approve(run.id, team.alice.principal, signature=sig).state is RunState.SUCCEEDED


def test_signers_file_owned_by_another_user_is_refused(team) -> None:  # type: ignore[no-untyped-def]
    os.chown(team.signers, 65534, 65534)
    try:
        problems = check_signers_file(team.signers, euid=0)
        bad = [p for p in problems if p.refuse]
        assert bad and "owned by nobody, neither root nor the user that runs Blastwall (root)" in bad[0].message
        with pytest.raises(SignersFileUnsafe, match="mode 0644"):
            HumanGate(ApprovalPolicy(allowed_signers=team.signers), euid=0).signers_file()
        # the same file, for a runner that runs as the user owning it: the gate opens, with a finding
        mine = check_signers_file(team.signers, euid=65534)
        assert [p.refuse for p in mine if p.path == str(team.signers)] == [False]
        assert "could enrol its own key" in mine[-1].message or any("could enrol" in p.message for p in mine)
    finally:
        os.chown(team.signers, 0, 0)


def _findings(text: str, base: Path) -> dict[str, str]:
    return {f.rule: f.message for f in approvals_findings(parse_config(text), base)}


def test_audit_findings_for_the_gate(team, tmp_path) -> None:  # type: ignore[no-untyped-def]
    f = _findings('[approvals]\nmode = "unauthenticated"\n', tmp_path)
    assert "approvals are not authenticated" in f["approvals.unauthenticated"]
    f = _findings(f'[approvals]\nallowed_signers = "{team.signers}"\n', tmp_path)
    assert "owned by the user that runs Blastwall" in f["approvals.signers_owned_by_runner"]
    assert "approvals.signers_file_unsafe" not in f and "alice@example.com" in f["approvals.software_keys"]
    team.signers.chmod(0o666)
    f = _findings(f'[approvals]\nallowed_signers = "{team.signers}"\nallow_writable_signers = true\n', tmp_path)
    assert "allow_writable_signers = true" in f["approvals.writable_signers_allowed"]
    assert "accepted only because allow_writable_signers" in f["approvals.signers_file_unsafe"]
    f = _findings('[[targets]]\nname = "t"\nurl = "env:T"\n', tmp_path)
    assert "no restore can be approved" in f["approvals.no_signers"]


def test_audit_reports_unauthenticated_approvals(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "blastwall.toml"
    cfg.write_text('[approvals]\nmode = "unauthenticated"\n')
    (tmp_path / "empty").mkdir()
    res = CliRunner().invoke(
        app,
        [
            "audit",
            str(tmp_path / "empty"),
            "--no-home",
            "--no-env",
            "--offline",
            "--json",
            "--config",
            str(cfg),
            "--output-dir",
            str(tmp_path / "reports"),
        ],
    )
    doc = json.loads(res.stdout)
    hits = [f for f in doc["findings"] if f["rule"] == "approvals.unauthenticated"]
    assert hits and hits[0]["severity"] == "high" and "approvals are not authenticated" in hits[0]["message"]


def test_unauthenticated_mode_is_said_in_every_run_record(log_path, env, clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    runner = make_runner(HumanGate(ApprovalPolicy(mode="unauthenticated")), clock=clock, environ=env)
    run = runner.start("demo", {"log": str(log_path)}, "ops")
    assert run.approvals_mode == "unauthenticated"
    assert runner.approve(run.id, "alice").state is RunState.SUCCEEDED
    cfg = tmp_path / "demo.toml"
    cfg.write_text('[approvals]\nmode = "unauthenticated"\n')
    res = CliRunner().invoke(app, ["runs", "show", run.id, "--json", "--config", str(cfg)])
    doc = json.loads(res.stdout)
    assert doc["approvals"]["authenticated"] is False and "NOT authenticated" in doc["approvals"]["warning"]
    assert doc["decisions"][0]["status"] == "unauthenticated"
    assert "NOT authenticated" in CliRunner().invoke(app, ["runs", "show", run.id, "--config", str(cfg)]).stdout
    listed = json.loads(CliRunner().invoke(app, ["runs", "list", "--json"]).stdout)
    assert listed[0]["approvals_mode"] == "unauthenticated"
    # the gate follows the configuration as it is now: switched to signed, the name-only approval is ignored
    res = CliRunner().invoke(app, ["runs", "show", run.id, "--json"])
    assert json.loads(res.stdout)["decisions"][0]["status"] == "ignored"


def test_signed_mode_without_a_signers_file_cannot_start(log_path, env, clock) -> None:  # type: ignore[no-untyped-def]
    runner = make_runner(HumanGate(ApprovalPolicy()), clock=clock, environ=env)
    with pytest.raises(SignersFileUnsafe, match="no \\[approvals\\] allowed_signers"):
        runner.start("demo", {"log": str(log_path)}, "ops")
    assert side_effects(log_path) == []


def test_runner_reads_no_test_crash_variables() -> None:
    src = (Path(__file__).resolve().parents[2] / "auditor").rglob("*.py")
    assert not [p for p in src if "BLASTWALL_TEST_" in p.read_text()]


def test_config_keys_are_validated() -> None:
    with pytest.raises(ConfigError):
        parse_config('[approvals]\nmode = "trust-me"\n')
