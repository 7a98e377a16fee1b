"""kill -9 at every boundary of the restore workflow, then `blastwall runs resume`: the restore completes,
no step runs twice (the run record's attempts, plus side-effect logs: the catalogue's safety dumps and an
event trigger on the target that logs every CREATE TABLE the restore issues)."""

from __future__ import annotations

import pytest

from auditor.state import StateDB
from auditor.workflow import RunStore
from auditor.workflow.restore import RESTORE_STEPS

from .pgrestore_env import RestoreEnv, row_counts
from .test_restore import manifest_counts, safety_dumps

pytestmark = pytest.mark.slow

AUDIT_SQL = """
CREATE TABLE public.ddl_audit (id serial PRIMARY KEY, tag text, object text);
GRANT ALL ON public.ddl_audit, public.ddl_audit_id_seq TO PUBLIC;
CREATE FUNCTION public.log_ddl() RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE r record;
BEGIN
  FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() WHERE command_tag = 'CREATE TABLE' LOOP
    INSERT INTO public.ddl_audit(tag, object) VALUES (r.command_tag, r.object_identity);
  END LOOP;
END $$;
CREATE EVENT TRIGGER log_ddl ON ddl_command_end EXECUTE FUNCTION public.log_ddl();
"""


def restores_executed(e: RestoreEnv) -> int:
    with e.server.connect(e.target_db) as c:
        row = c.execute("SELECT count(*) FROM public.ddl_audit WHERE object = 'public.customers'").fetchone()
    return int(row[0])  # type: ignore[index]


def drive(e: RestoreEnv, crash: dict[str, str], crash_in_approve: bool) -> tuple[str, bool]:
    """The call meant to crash runs in a subprocess (it SIGKILLs itself); then `runs resume` in a subprocess;
    the other calls (start or approve without a crash) run in this process to keep the test fast."""
    cfg = ("--config", str(e.config_path))
    if crash_in_approve:
        assert e.cli_here("restore", e.backup_id, "--target", "staging", *cfg) == 4
        run_id = RunStore(StateDB()).runs()[0].id
        p = e.cli("approve", run_id, "--as", "bob", *cfg, crash=crash)
    else:
        p = e.cli("restore", e.backup_id, "--target", "staging", *cfg, crash=crash)
        run_id = RunStore(StateDB()).runs()[0].id
    crashed = p.returncode == -9
    if crashed:
        p = e.cli("runs", "resume", run_id, *cfg)
    if p.returncode == 4:
        e.cli_here("approve", run_id, "--as", "bob", *cfg)
    return RunStore(StateDB()).run(run_id).state.value, crashed


@pytest.fixture
def audited(restore_env: RestoreEnv) -> RestoreEnv:
    with restore_env.server.connect(restore_env.target_db) as c:
        c.execute(AUDIT_SQL)  # type: ignore[arg-type]
    return restore_env


@pytest.mark.parametrize("step", RESTORE_STEPS)
def test_kill_after_each_restore_step_then_resume(audited: RestoreEnv, step: str, canaries) -> None:  # type: ignore[no-untyped-def]
    e = audited
    state, crashed = drive(e, {"after": step}, crash_in_approve=step not in ("fetch_verify", "plan"))
    assert crashed, "the crash hook did not fire"
    assert state == "succeeded"
    run = RunStore(StateDB()).runs()[0]
    assert {s.name: s.attempts for s in RunStore(StateDB()).steps(run.id)} == {n: 1 for n in RESTORE_STEPS}
    assert restores_executed(e) == 1
    assert len(safety_dumps(e)) == 1
    expected = manifest_counts(e)
    with e.target() as c:
        assert {k: v for k, v in row_counts(c).items() if k in expected} == expected
    canaries.assert_absent(texts=e.logs, trees=[e.tmp])


def test_kill_inside_the_restore_needs_a_human_and_is_not_rerun(audited: RestoreEnv) -> None:
    e = audited
    state, crashed = drive(e, {"inside": "restore"}, crash_in_approve=True)
    assert crashed and state == "failed"
    store = RunStore(StateDB())
    run = store.runs()[0]
    assert run.needs_human
    steps = {s.name: s for s in store.steps(run.id)}
    assert steps["restore"].state.value == "interrupted" and steps["restore"].attempts == 1
    assert steps["post_check"].state.value == "pending"
    p = e.cli("runs", "resume", run.id, "--config", str(e.config_path))
    assert p.returncode == 1 and "interrupted" in p.stdout
    assert restores_executed(e) == 1  # pg_restore ran exactly once, and was not repeated


def test_kill_inside_the_safety_dump_reruns_it(audited: RestoreEnv) -> None:
    e = audited
    state, crashed = drive(e, {"inside": "safety_dump"}, crash_in_approve=True)
    assert crashed and state == "succeeded"
    dumps = safety_dumps(e)
    assert len(dumps) == 2 and all(d.status == "complete" for d in dumps)  # idempotent by design: a new object
    assert restores_executed(e) == 1
