"""kill -9 at every step boundary (and inside steps), then resume: the run completes and no step
runs twice. The workflow runs in a subprocess that SIGKILLs itself through a `StepHooks` installed by crashprog."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.state import StateDB
from auditor.workflow import ApprovalPolicy, HumanGate, RunState, RunStore

from .crashprog import crash_args
from .flows import make_runner, side_effects

REPO = Path(__file__).resolve().parents[2]
ONCE = ["inventory", "sanity", "choose", "approval", "apply", "publish", "report"]


def prog(*args: str, crash: dict[str, str] | None = None) -> tuple[int, list[str]]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "DEMO_TOKEN": "demo-token-value-123"}
    p = subprocess.run(
        [sys.executable, "-m", "tests.workflow.crashprog", *crash_args(**(crash or {})), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if p.returncode not in (0, -9):
        raise AssertionError(f"crashprog {args} failed rc={p.returncode}: {p.stderr[-2000:]}")
    return p.returncode, p.stdout.split()


def drive(log: Path, crash: dict[str, str], crash_in_approve: bool) -> tuple[str, bool]:
    """The call meant to crash runs in a subprocess; then `resume` in a subprocess; the rest in-process."""
    here = make_runner(
        HumanGate(ApprovalPolicy(mode="unauthenticated")), environ={"DEMO_TOKEN": "demo-token-value-123"}
    )
    if crash_in_approve:
        run_id = here.start("demo", {"log": str(log)}, "alice").id
        rc, out = prog("approve", run_id, "bob", crash=crash)
    else:
        rc, out = prog("start", str(log), "alice", crash=crash)
        run_id = RunStore(StateDB()).runs()[0].id
    crashed = rc == -9
    if crashed:
        rc, out = prog("resume", run_id)
    if out[-1] == RunState.WAITING.value:
        here.approve(run_id, "bob")
    return here.store.run(run_id).state.value, crashed


BEFORE_GATE = {"inventory", "sanity", "choose"}


@pytest.mark.slow
@pytest.mark.parametrize("step", ONCE)
def test_kill_after_every_step_then_resume(tmp_path: Path, step: str) -> None:
    log = tmp_path / "effects.log"
    state, crashed = drive(log, {"after": step}, crash_in_approve=step not in BEFORE_GATE)
    assert crashed, "the crash hook did not fire"
    assert state == "succeeded"
    assert side_effects(log) == ONCE  # every side effect exactly once, in order
    run = RunStore(StateDB()).runs()[0]
    steps = {s.name: s for s in RunStore(StateDB()).steps(run.id)}
    assert {n: s.attempts for n, s in steps.items() if n != "unused"} == {n: 1 for n in ONCE}
    assert steps["unused"].state.value == "skipped"


@pytest.mark.slow
def test_kill_inside_a_read_reruns_the_read(tmp_path: Path) -> None:
    log = tmp_path / "effects.log"
    state, crashed = drive(log, {"inside": "inventory"}, crash_in_approve=False)
    assert crashed and state == "succeeded"
    assert side_effects(log).count("inventory") == 2  # idempotent read: ran again, recorded twice
    assert side_effects(log).count("apply") == 1


@pytest.mark.slow
def test_kill_inside_an_action_needs_a_human_and_never_reruns(tmp_path: Path) -> None:
    log = tmp_path / "effects.log"
    state, crashed = drive(log, {"inside": "apply"}, crash_in_approve=True)
    assert crashed and state == "failed"
    store = RunStore(StateDB())
    run = store.runs()[0]
    assert run.needs_human and "interrupted" in (run.message or "")
    steps = {s.name: s for s in store.steps(run.id)}
    assert steps["apply"].state.value == "interrupted" and steps["apply"].attempts == 1
    assert steps["publish"].state.value == "pending"
    _rc, out = prog("resume", run.id)  # resuming again changes nothing
    assert out[-1] == "failed"
    assert side_effects(log).count("apply") == 1 and "publish" not in side_effects(log)


@pytest.mark.slow
def test_kill_inside_an_idempotent_action_reruns_it(tmp_path: Path) -> None:
    log = tmp_path / "effects.log"
    state, crashed = drive(log, {"inside": "publish"}, crash_in_approve=True)
    assert crashed and state == "succeeded"
    assert side_effects(log).count("publish") == 2 and side_effects(log).count("apply") == 1
