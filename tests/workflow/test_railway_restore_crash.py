"""kill -9 at every step boundary of the Railway volume restore, then `blastwall runs resume`: exactly one
stage, at most one commit, never a commit before Railway's staging workflow reached Complete.

Uses the same crash seam as the PostgreSQL restore matrix (tests/workflow/test_restore_crash.py): the call
meant to crash runs in a subprocess under `tests.workflow.crashprog`, whose hook SIGKILLs it; the fake
Railway API runs in this process, so it outlives the crash and records every request.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from auditor.state import StateDB
from auditor.workflow import RunStore
from providers.railway.restore_workflow import VOLUME_RESTORE_STEPS

from .test_railway_restore import TOKEN_ENV, VolumeEnv

pytestmark = pytest.mark.slow

STAGE, COMMIT = "volumeInstanceBackupRestore", "environmentPatchCommitStaged"


@pytest.fixture
def vol(railway_fake, tmp_path, canaries, monkeypatch):  # type: ignore[no-untyped-def]
    return VolumeEnv(railway_fake, tmp_path, canaries, monkeypatch)


def _cli(vol: VolumeEnv, *args: str, crash: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    from .crashprog import crash_args

    prog = (
        ["-m", "tests.workflow.crashprog", *crash_args(**crash), "cli"]
        if crash
        else ["-c", "from auditor.cli import main; main()"]
    )
    p = subprocess.run(
        [sys.executable, *prog, *args, "--config", str(vol.config_path)],
        env={**os.environ, TOKEN_ENV: vol.token},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    vol.outputs += [p.stdout, p.stderr]
    return p


def _drive(vol: VolumeEnv, crash: dict[str, str], in_approve: bool) -> tuple[str, bool, str]:
    if in_approve:
        run_id = vol.start()
        p = _cli(vol, "approve", run_id, "--as", "bob", crash=crash)
    else:
        p = _cli(vol, "restore", vol.chosen.id, "--target", "shop-volume", "--as", "alice", crash=crash)
        run_id = RunStore(StateDB()).runs()[0].id
    crashed = p.returncode == -9
    if crashed:
        p = _cli(vol, "runs", "resume", run_id)
    if p.returncode == 4:
        code, _ = vol.cli("approve", run_id, "--as", "bob")
    return RunStore(StateDB()).run(run_id).state.value, crashed, run_id


def _sent(vol: VolumeEnv) -> list[dict[str, Any]]:
    return [m for m in vol.fake.mutations if m["accepted"]]


def _commit_after_complete(vol: VolumeEnv) -> bool:
    """Every commit request comes after a workflowStatus answer of Complete for the restore's workflow."""
    complete_seen = False
    polls = iter(vol.fake.workflow_polls)
    for r in vol.fake.requests:
        if "workflowStatus" in r.get("fields", ()):
            complete_seen = complete_seen or next(polls)["status"] == "Complete"
        if COMMIT in r.get("fields", ()) and not complete_seen:
            return False
    return True


@pytest.mark.parametrize("step", VOLUME_RESTORE_STEPS)
def test_kill_after_each_step_then_resume(vol: VolumeEnv, step: str, canaries, tmp_path) -> None:  # type: ignore[no-untyped-def]
    state, crashed, run_id = _drive(vol, {"after": step}, in_approve=step not in ("read", "plan"))
    assert crashed, "the crash hook did not fire"
    assert state == "succeeded"
    assert [m["fields"] for m in _sent(vol)] == [[STAGE], [COMMIT]]  # exactly one stage, one commit
    assert _commit_after_complete(vol)
    attempts = {s.name: s.attempts for s in RunStore(StateDB()).steps(run_id)}
    assert attempts["stage"] == 1 and attempts["commit"] == 1
    assert len(vol.fake.scenario.restores) == 1
    canaries.assert_absent(texts=vol.outputs, trees=[tmp_path])


@pytest.mark.parametrize("step", ["stage", "commit"])
def test_kill_inside_an_action_needs_a_human_and_never_sends_it_again(vol: VolumeEnv, step: str) -> None:
    state, crashed, run_id = _drive(vol, {"inside": step}, in_approve=True)
    assert crashed and state == "failed"
    run = RunStore(StateDB()).run(run_id)
    assert run.needs_human
    steps = {s.name: s for s in RunStore(StateDB()).steps(run_id)}
    assert steps[step].state.value == "interrupted" and steps[step].attempts == 1
    p = _cli(vol, "runs", "resume", run_id)
    assert p.returncode == 1
    fields = [m["fields"] for m in _sent(vol)]
    assert fields.count([STAGE]) == 1 and fields.count([COMMIT]) == (1 if step == "commit" else 0)
    assert _commit_after_complete(vol)
