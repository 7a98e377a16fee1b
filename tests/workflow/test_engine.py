"""The gated runner: state machine, gates, approvals bound to plan hashes, expiry, two-person rule,
scoped credentials and notifications. In-process with an injected clock; kill -9 is in test_crash.py."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from auditor.config import SecretRef
from auditor.errors import StateError
from auditor.state import StateDB
from auditor.workflow import (
    Action,
    ApprovalGate,
    ApprovalPolicy,
    ApprovalRefused,
    HumanGate,
    Read,
    RecordingNotifier,
    RunState,
    StepContext,
    StepError,
    StepState,
    UnsafeAutoApprove,
    WebhookNotifier,
    Workflow,
    plan_sha256,
)
from auditor.workflow.runner import Runner
from auditor.workflow.store import RunStore
from tests.support.fakehttp import FakeHTTPServer

from .flows import demo_workflow, make_runner, side_effects


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "effects.log"


@pytest.fixture
def env(canaries) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"DEMO_TOKEN": canaries.mint("demo_tok_{r}")}


def human(**kw: object) -> HumanGate:
    return HumanGate(ApprovalPolicy(**{"mode": "unauthenticated", **kw}))  # type: ignore[arg-type]


def states(runner: Runner, run_id: str) -> dict[str, str]:
    return {s.name: s.state.value for s in runner.store.steps(run_id)}


def test_auto_approve_runs_every_step_once_and_warns(log_path, env, clock, caplog) -> None:
    runner = make_runner(UnsafeAutoApprove(), clock=clock, environ=env)
    with caplog.at_level(logging.WARNING, logger="blastwall.workflow.gate"):
        run = runner.start("demo", {"log": str(log_path)}, "alice")
    assert run.state is RunState.SUCCEEDED
    assert side_effects(log_path) == ["inventory", "sanity", "choose", "approval", "apply", "publish", "report"]
    st = states(runner, run.id)
    assert st["unused"] == "skipped" and all(v == "finished" for k, v in st.items() if k != "unused")
    assert all(s.attempts == 1 for s in runner.store.steps(run.id) if s.name != "unused")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "UnsafeAutoApprove" in r.getMessage()]
    assert len(warnings) >= 3  # at the gate and before each of the two actions
    assert runner.store.decisions(run.id)[0].by == "UnsafeAutoApprove"


def test_route_to_end_skips_gate_and_actions(log_path, env, clock) -> None:
    runner = make_runner(human(), clock=clock, environ=env)
    run = runner.start("demo", {"log": str(log_path), "route": "nothing"}, "alice")
    assert run.state is RunState.SUCCEEDED
    assert side_effects(log_path) == ["inventory", "sanity", "choose"]
    assert states(runner, run.id)["apply"] == "skipped"


def test_human_gate_waits_then_approval_continues(log_path, env, clock) -> None:
    notes = RecordingNotifier()
    runner = make_runner(human(), clock=clock, environ=env, notifier=notes)
    run = runner.start("demo", {"log": str(log_path)}, "alice")
    assert run.state is RunState.WAITING
    assert run.plan == {"action": "apply", "items": 3, "variant": "A"}
    assert run.plan_sha256 == plan_sha256(run.plan)
    assert "apply" not in side_effects(log_path)
    assert [n[0] for n in notes.sent] == ["waiting_approval"]
    assert run.id in notes.sent[0][1] and run.plan_sha256 in notes.sent[0][1]
    # resuming while waiting does nothing
    assert runner.advance(run.id).state is RunState.WAITING
    clock.advance(minutes=5)
    done = runner.approve(run.id, "bob", comment="looks right", plan_sha256=run.plan_sha256)
    assert done.state is RunState.SUCCEEDED
    assert side_effects(log_path).count("apply") == 1
    d = runner.store.decisions(run.id)
    assert [(x.by, x.decision, x.plan_sha256, x.comment) for x in d] == [
        ("bob", "approve", run.plan_sha256, "looks right")
    ]
    assert runner.advance(run.id).state is RunState.SUCCEEDED  # terminal: nothing reruns
    assert side_effects(log_path).count("apply") == 1


def test_approval_for_plan_a_is_refused_for_plan_b(log_path, env, clock) -> None:
    runner = make_runner(human(), clock=clock, environ=env)
    run_a = runner.start("demo", {"log": str(log_path), "variant": "A"}, "alice")
    run_b = runner.start("demo", {"log": str(log_path), "variant": "B"}, "alice")
    assert run_a.plan_sha256 != run_b.plan_sha256
    with pytest.raises(ApprovalRefused, match="but the run's plan is"):
        runner.approve(run_b.id, "bob", plan_sha256=run_a.plan_sha256)
    assert runner.store.decisions(run_b.id) == []
    # an approval recorded for plan A (e.g. the plan changed after it was given) does not open plan B's gate
    runner.store.add_decision(
        run_id=run_b.id,
        step="approval",
        by="bob",
        decision="approve",
        at=clock(),
        plan_sha256=run_a.plan_sha256 or "",
        comment=None,
    )
    assert runner.advance(run_b.id).state is RunState.WAITING
    assert "apply" not in side_effects(log_path)


def test_tampered_plan_is_refused(log_path, env, clock) -> None:
    runner = make_runner(human(), clock=clock, environ=env)
    run = runner.start("demo", {"log": str(log_path)}, "alice")
    from sqlalchemy import update

    from auditor.workflow.store import runs_table

    with runner.store.db.engine.begin() as c:
        c.execute(
            update(runs_table)
            .where(runs_table.c.id == run.id)
            .values(plan=json.dumps({"action": "apply", "items": 999, "variant": "A"}))
        )
    out = runner.approve(run.id, "bob")
    assert out.state is RunState.FAILED and "does not match its hash" in (out.message or "")
    assert "apply" not in side_effects(log_path)


def test_expired_approval_is_refused(log_path, env, clock) -> None:
    runner = make_runner(human(expire_after_s=3600, required=2), clock=clock, environ=env)
    run = runner.start("demo", {"log": str(log_path)}, "alice")
    runner.approve(run.id, "bob")
    clock.advance(minutes=61)  # bob's approval is now too old, and the request window is over
    with pytest.raises(ApprovalRefused, match="expired"):
        runner.approve(run.id, "carol")
    final = runner.store.run(run.id)
    assert final.state is RunState.EXPIRED
    assert "apply" not in side_effects(log_path)
    assert states(runner, run.id)["apply"] == "pending"


def test_approval_expires_before_the_action_starts(log_path, env, clock) -> None:
    """Approved, then the process died before the action; resuming two hours later must not act."""
    runner = make_runner(human(expire_after_s=3600), clock=clock, environ=env)
    run = runner.start("demo", {"log": str(log_path)}, "alice")
    runner.store.add_decision(
        run_id=run.id,
        step="approval",
        by="bob",
        decision="approve",
        at=clock(),
        plan_sha256=run.plan_sha256 or "",
        comment=None,
    )
    clock.advance(hours=2)
    out = runner.advance(run.id)
    assert out.state is RunState.EXPIRED
    assert "apply" not in side_effects(log_path)


def test_waiting_run_expires_without_approval(log_path, env, clock) -> None:
    runner = make_runner(human(expire_after_s=60), clock=clock, environ=env)
    run = runner.start("demo", {"log": str(log_path)}, "alice")
    clock.advance(seconds=61)
    assert runner.advance(run.id).state is RunState.EXPIRED
    with pytest.raises(ApprovalRefused, match="expired"):
        runner.approve(run.id, "bob")


def test_two_person_rule(log_path, env, clock) -> None:
    runner = make_runner(human(two_person=True, required=2), clock=clock, environ=env)
    run = runner.start("demo", {"log": str(log_path)}, "alice")
    with pytest.raises(ApprovalRefused, match="two-person"):
        runner.approve(run.id, "alice")
    with pytest.raises(ApprovalRefused, match="two-person"):
        runner.approve(run.id, " ALICE ")
    assert runner.approve(run.id, "bob").state is RunState.WAITING  # 1 of 2
    with pytest.raises(ApprovalRefused, match="already approved"):
        runner.approve(run.id, "Bob")
    # a requester's approval sneaked into the record still does not count
    runner.store.add_decision(
        run_id=run.id,
        step="approval",
        by="alice",
        decision="approve",
        at=clock(),
        plan_sha256=run.plan_sha256 or "",
        comment=None,
    )
    assert runner.advance(run.id).state is RunState.WAITING
    assert "apply" not in side_effects(log_path)
    assert runner.approve(run.id, "carol").state is RunState.SUCCEEDED
    assert side_effects(log_path).count("apply") == 1


def test_reject_leaves_actions_unrun(log_path, env, clock) -> None:
    runner = make_runner(human(), clock=clock, environ=env)
    run = runner.start("demo", {"log": str(log_path)}, "alice")
    out = runner.reject(run.id, "bob", comment="wrong target")
    assert out.state is RunState.REJECTED
    assert "apply" not in side_effects(log_path)
    with pytest.raises(ApprovalRefused, match="not waiting"):
        runner.approve(run.id, "carol")
    assert runner.store.decisions(run.id)[-1].decision == "reject"


def test_action_without_gate_cannot_be_declared() -> None:
    with pytest.raises(StateError, match="no approval gate"):
        Workflow("bad", (Read("a", lambda c: None), Action("b", lambda c: None)))


def test_step_secrets_are_scoped_to_their_step(tmp_path, canaries, clock) -> None:
    token = canaries.mint("scoped_{r}")
    seen: dict[str, object] = {}

    def first(ctx: StepContext) -> dict[str, int]:
        seen["ctx"] = ctx  # a step that tries to keep its context for later
        return {"len": len(ctx.secret("token"))}

    def second(ctx: StepContext) -> dict[str, str]:
        out = {}
        try:
            ctx.secret("token")
            out["own"] = "reached"
        except StepError:
            out["own"] = "denied"
        try:
            seen["ctx"].secret("token")  # type: ignore[attr-defined]
            out["stashed"] = "reached"
        except StepError:
            out["stashed"] = "denied"
        return out

    def leaky(ctx: StepContext) -> dict[str, str]:
        return {"oops": ctx.secret("token").reveal()}

    wf = Workflow(
        "scoped",
        (
            Read("first", first, secrets={"token": SecretRef.parse("env:SCOPED")}),
            Read("second", second),
            ApprovalGate("gate", lambda c: {"x": 1}),
            Action("leaky", leaky, secrets={"token": SecretRef.parse("env:SCOPED")}),
        ),
    )
    runner = Runner(
        RunStore(StateDB()), {"scoped": lambda p: wf}, UnsafeAutoApprove(), clock=clock, environ={"SCOPED": token}
    )
    run = runner.start("scoped", {}, "alice")
    recs = {s.name: s for s in runner.store.steps(run.id)}
    assert recs["first"].output == {"len": len(token)}
    assert recs["second"].output == {"own": "denied", "stashed": "denied"}
    assert run.state is RunState.FAILED and "contains a credential" in (recs["leaky"].error or "")
    assert recs["leaky"].output is None
    runner.store.db.dispose()
    canaries.assert_absent(trees=[tmp_path / "state"], texts=[repr(seen["ctx"])])


def test_failed_action_error_is_redacted_and_notified(log_path, env, clock, canaries, caplog, tmp_path) -> None:
    notes = RecordingNotifier()
    runner = make_runner(UnsafeAutoApprove(), clock=clock, environ=env, notifier=notes)
    with caplog.at_level(logging.DEBUG):
        run = runner.start("demo", {"log": str(log_path), "fail_apply": True}, "alice")
    assert run.state is RunState.FAILED and run.needs_human
    rec = {s.name: s for s in runner.store.steps(run.id)}["apply"]
    assert rec.state is StepState.FAILED and "apply broke" in (rec.error or "")
    assert [n[0] for n in notes.sent] == ["failed"]
    runner.store.db.dispose()
    canaries.assert_absent(
        texts=[caplog.text, rec.error or "", *[n[1] for n in notes.sent]], trees=[tmp_path / "state"]
    )


def test_missing_secret_pauses_the_run_before_the_step_starts(log_path, env, clock) -> None:
    runner = make_runner(UnsafeAutoApprove(), clock=clock, environ={})
    run = runner.start("demo", {"log": str(log_path)}, "alice")
    assert run.state is RunState.RUNNING and not run.terminal
    assert "DEMO_TOKEN is not set" in (run.message or "") and "runs resume" in (run.message or "")
    assert states(runner, run.id)["apply"] == "pending"  # never started, so it may start later
    assert "apply" not in side_effects(log_path)
    # resumed where the credential is available: it runs, once
    done = make_runner(UnsafeAutoApprove(), clock=clock, environ=env).advance(run.id)
    assert done.state is RunState.SUCCEEDED and side_effects(log_path).count("apply") == 1


def test_webhook_gets_slack_json_on_wait_and_failure(log_path, env, clock, canaries, caplog) -> None:
    got: list[dict[str, object]] = []
    fake = FakeHTTPServer()
    hook_secret = canaries.mint("T0000/B0000/{r}")

    @fake.route("POST", "/services/" + hook_secret)
    def _hook(req):  # type: ignore[no-untyped-def]
        got.append(req.json())
        return 200, "ok"

    with fake:
        environ = {**env, "HOOK": f"{fake.url}/services/{hook_secret}"}
        notifier = WebhookNotifier(SecretRef.parse("env:HOOK"), environ=environ)
        runner = make_runner(human(), clock=clock, environ=environ, notifier=notifier)
        with caplog.at_level(logging.DEBUG):
            run = runner.start("demo", {"log": str(log_path), "fail_apply": True}, "alice")
            runner.approve(run.id, "bob")
    assert len(got) == 2
    assert all(isinstance(g["text"], str) and g["blocks"] for g in got)
    assert "waiting for approval" in str(got[0]["text"]) and "blastwall approve" in str(got[0]["text"])
    assert "failed at step apply" in str(got[1]["text"])
    canaries.assert_absent(texts=[caplog.text, json.dumps(got)])


def test_webhook_failure_does_not_break_the_run(log_path, env, clock) -> None:
    notifier = WebhookNotifier(SecretRef.parse("env:HOOK"), environ={"HOOK": "http://127.0.0.1:9/x"}, timeout_s=1)
    runner = make_runner(human(), clock=clock, environ=env, notifier=notifier)
    assert runner.start("demo", {"log": str(log_path)}, "alice").state is RunState.WAITING


def test_second_process_cannot_advance_a_leased_run(log_path, env, clock) -> None:
    runner = make_runner(human(), clock=clock, environ=env)
    run = runner.start("demo", {"log": str(log_path)}, "alice")
    other = make_runner(human(), clock=clock, environ=env)
    other.store.acquire(run.id, clock())
    other.store.owner = other.store.owner  # held by a live process (this one) under another owner id
    with pytest.raises(StateError, match="being advanced"):
        runner.approve(run.id, "bob")
    other.store.release(run.id)
    assert runner.approve(run.id, "bob").state is RunState.SUCCEEDED


def test_illegal_transition_is_refused(log_path, env, clock) -> None:
    runner = make_runner(UnsafeAutoApprove(), clock=clock, environ=env)
    run = runner.start("demo", {"log": str(log_path)}, "alice")
    with pytest.raises(StateError, match="illegal transition"):
        runner.store.set_state(run.id, RunState.RUNNING, clock())


def test_workflow_definition_is_stable() -> None:
    assert [s.name for s in demo_workflow({"log": "x"}).steps] == [
        "inventory",
        "sanity",
        "choose",
        "unused",
        "approval",
        "apply",
        "publish",
        "report",
    ]


@pytest.mark.slow
def test_runs_persist_in_a_postgresql_state_database(pg_db, log_path, env, clock) -> None:  # type: ignore[no-untyped-def]
    url = pg_db.url.replace("postgresql://", "postgresql+psycopg://", 1)
    runner = make_runner(human(two_person=True), clock=clock, environ=env, state_url=url)
    run = runner.start("demo", {"log": str(log_path)}, "alice")
    assert run.state is RunState.WAITING and run.created_at.tzinfo is not None
    other = make_runner(human(two_person=True), clock=clock, environ=env, state_url=url)
    assert other.approve(run.id, "bob").state is RunState.SUCCEEDED
    assert side_effects(log_path).count("apply") == 1
    assert [d.by for d in runner.store.decisions(run.id)] == ["bob"]
    runner.store.db.dispose()
    other.store.db.dispose()


def test_plan_hash_is_sha256_of_canonical_json() -> None:
    import hashlib

    from auditor.workflow import canonical_json

    a = {"target": {"name": "stäging", "port": 5432}, "tables": [{"name": "t", "rows": 1}]}
    b = {"tables": [{"rows": 1, "name": "t"}], "target": {"port": 5432, "name": "stäging"}}
    assert (
        canonical_json(a)
        == canonical_json(b)
        == ('{"tables":[{"name":"t","rows":1}],"target":{"name":"stäging","port":5432}}')
    )
    assert plan_sha256(a) == plan_sha256(b) == hashlib.sha256(canonical_json(a).encode()).hexdigest()
    assert plan_sha256({**a, "tables": [{"name": "t", "rows": 2}]}) != plan_sha256(a)
    with pytest.raises(TypeError):
        plan_sha256({"secret": object()})
