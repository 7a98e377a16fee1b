"""The deterministic runner: it decides what runs next, records it, and survives crashes.

Guarantees:

* Each step is recorded as started before it runs and as finished (with its output) before the
  next step starts; every record is committed on its own, so ``kill -9`` loses nothing recorded.
* On resume, finished steps are not run again. A read/check/route/gate step found started but not
  finished simply runs again (they are idempotent). An action found started but not finished is
  *not* re-run: the run fails with ``needs_human`` (the action may have partly happened), unless
  the action declared ``is_idempotent=True``.
* An action runs only when the closest gate before it approves the run's plan *at that moment*:
  approvals are re-checked (plan hash, expiry, policy) right before every action starts.
* A step's secrets are resolved when it starts, visible to that step's context only, and dropped
  when it ends. Outputs and error messages are checked/redacted so no resolved secret is recorded.
"""

from __future__ import annotations

import json
import logging
import os
import signal
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from ..errors import BlastwallError, StateError
from ..redact import Redactor
from ..secrets import Secret
from .gate import ApprovalRefused, Gate, GateOutcome
from .model import (
    END,
    Action,
    ApprovalGate,
    Check,
    Route,
    RunState,
    Step,
    StepContext,
    StepPreconditionFailed,
    StepState,
    Workflow,
)
from .notify import Notifier, NullNotifier
from .plan import plan_sha256
from .store import RunRecord, RunStore, new_run_id

__all__ = ["CRASH_AFTER_ENV", "CRASH_IN_ENV", "CrashHook", "Runner", "WorkflowFactory", "utcnow"]

log = logging.getLogger("blastwall.workflow")

WorkflowFactory = Callable[[Mapping[str, Any]], Workflow]
CRASH_AFTER_ENV = "BLASTWALL_TEST_CRASH_AFTER_STEP"
CRASH_IN_ENV = "BLASTWALL_TEST_CRASH_IN_STEP"


def utcnow() -> datetime:
    return datetime.now(UTC)


class CrashHook:
    """Test hook: SIGKILL this process at a step boundary, or inside a step after its work is done
    but before its completion is recorded. Configured only through the two test env variables."""

    def __init__(self, after: str | None = None, inside: str | None = None) -> None:
        self.after, self.inside = after or None, inside or None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> CrashHook:
        return cls(environ.get(CRASH_AFTER_ENV), environ.get(CRASH_IN_ENV))

    def _die(self, where: str) -> None:
        log.warning("test crash hook: killing this process %s", where)
        os.kill(os.getpid(), signal.SIGKILL)

    def after_step(self, name: str) -> None:
        if self.after == name:
            self._die(f"after step {name}")

    def inside_step(self, name: str) -> None:
        if self.inside == name:
            self._die(f"inside step {name}")


class _SecretsUnavailable(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _StepFailed(Exception):
    def __init__(self, message: str, *, clean: bool) -> None:
        super().__init__(message)
        self.message, self.clean = message, clean


class Runner:
    def __init__(
        self,
        store: RunStore,
        workflows: Mapping[str, WorkflowFactory],
        gate: Gate,
        *,
        clock: Callable[[], datetime] = utcnow,
        notifier: Notifier | None = None,
        environ: Mapping[str, str] | None = None,
        crash: CrashHook | None = None,
        approve_command: Callable[[RunRecord], str] | None = None,
    ) -> None:
        self.store = store
        self.workflows = workflows
        self.gate = gate
        self.clock = clock
        self.notifier = notifier or NullNotifier()
        self.environ = os.environ if environ is None else environ
        self.crash = crash or CrashHook()
        self._approve_command = approve_command or (
            lambda r: f"blastwall approve {r.id} --as NAME --plan-sha256 {r.plan_sha256}"
        )

    # -- public API --------------------------------------------------------------------
    def approve_command(self, run: RunRecord) -> str:
        return self._approve_command(run)

    def start(self, workflow: str, params: Mapping[str, Any], requested_by: str) -> RunRecord:
        wf = self._build(workflow, params)
        run = self.store.create_run(
            run_id=new_run_id(),
            workflow=workflow,
            params=dict(params),
            requested_by=requested_by,
            steps=[(s.name, s.kind.value) for s in wf.steps],
            now=self.clock(),
        )
        log.info("run %s: %s started by %s", run.id, workflow, requested_by)
        return self.advance(run.id)

    def advance(self, run_id: str) -> RunRecord:
        """Run (or resume) `run_id` until it waits for approval or ends."""
        run = self.store.run(run_id)
        if run.terminal:
            return run
        self.store.acquire(run_id, self.clock())
        try:
            return self._advance(run_id)
        finally:
            self.store.release(run_id)

    def approve(
        self, run_id: str, by: str, *, comment: str | None = None, plan_sha256: str | None = None
    ) -> RunRecord:
        """Record an approval of the run's current plan, then continue the run if the gate opens."""
        self._must_wait(run_id)
        self.store.acquire(run_id, self.clock())
        try:
            run = self._must_wait(run_id)
            assert run.plan_sha256 is not None and run.gate_step is not None
            now = self.clock()
            if plan_sha256 is not None and plan_sha256.strip().lower() != run.plan_sha256:
                self.store.event(
                    run_id,
                    "refused",
                    f"approval by {by} refused: it was for plan sha256:{plan_sha256.strip()}",
                    now,
                )
                raise ApprovalRefused(
                    f"run {run_id}: you approved plan sha256:{plan_sha256.strip()}, but the run's plan is "
                    f"sha256:{run.plan_sha256}",
                    hint=f"review it with: blastwall runs show {run_id}",
                )
            decisions = self.store.decisions(run_id)
            verdict = self.gate.decide(run, run.gate_step, decisions, now)
            if verdict.outcome is GateOutcome.EXPIRED:
                self._end_at_gate(run, run.gate_step, RunState.EXPIRED, verdict.reason)
                raise ApprovalRefused(
                    f"run {run_id} expired: {verdict.reason}",
                    hint="start the workflow again to get a fresh plan",
                )
            try:
                self.gate.check_approval(run, by, now, decisions)
            except ApprovalRefused as exc:
                self.store.event(run_id, "refused", f"approval by {by} refused: {exc.message}", now)
                raise
            self.store.add_decision(
                run_id=run_id,
                step=run.gate_step,
                by=by,
                decision="approve",
                at=now,
                plan_sha256=run.plan_sha256,
                comment=comment,
            )
            log.info("run %s: approved by %s (plan sha256:%s)", run_id, by, run.plan_sha256)
            return self._advance(run_id)
        finally:
            self.store.release(run_id)

    def reject(self, run_id: str, by: str, *, comment: str | None = None) -> RunRecord:
        self._must_wait(run_id)
        self.store.acquire(run_id, self.clock())
        try:
            run = self._must_wait(run_id)
            assert run.plan_sha256 is not None and run.gate_step is not None
            if not by.strip():
                raise ApprovalRefused("a rejection needs a name", hint="pass --as NAME")
            now = self.clock()
            self.store.add_decision(
                run_id=run_id,
                step=run.gate_step,
                by=by,
                decision="reject",
                at=now,
                plan_sha256=run.plan_sha256,
                comment=comment,
            )
            return self._end_at_gate(run, run.gate_step, RunState.REJECTED, f"rejected by {by}")
        finally:
            self.store.release(run_id)

    # -- internals ---------------------------------------------------------------------
    def _must_wait(self, run_id: str) -> RunRecord:
        run = self.store.run(run_id)
        if run.state is not RunState.WAITING:
            raise ApprovalRefused(
                f"run {run_id} is {run.state}, not waiting for approval",
                hint=f"see: blastwall runs show {run_id}",
            )
        return run

    def _build(self, workflow: str, params: Mapping[str, Any]) -> Workflow:
        try:
            factory = self.workflows[workflow]
        except KeyError:
            raise StateError(f"unknown workflow {workflow!r}") from None
        return factory(params)

    def _set(
        self, run: RunRecord, state: RunState, message: str | None = None, needs_human: bool | None = None
    ) -> RunRecord:
        if run.state is state and message is None and needs_human is None:
            return run
        return self.store.set_state(run.id, state, self.clock(), message=message, needs_human=needs_human)

    def _end_at_gate(self, run: RunRecord, gate_step: str, state: RunState, reason: str) -> RunRecord:
        self.store.fail_step(run.id, gate_step, self.clock(), reason)
        run = self._set(run, state, f"{reason}; nothing was changed")
        log.warning("run %s %s: %s", run.id, state, reason)
        return run

    def _fail(
        self,
        run: RunRecord,
        step: str,
        message: str,
        *,
        needs_human: bool,
        step_state: StepState = StepState.FAILED,
    ) -> RunRecord:
        self.store.fail_step(run.id, step, self.clock(), message, state=step_state)
        run = self._set(run, RunState.FAILED, f"{step}: {message}", needs_human=needs_human)
        log.error("run %s failed at %s: %s", run.id, step, message)
        self.notifier.notify(
            "failed",
            f"Blastwall run {run.id} ({run.workflow}) failed at step {step}: {message}"
            + (" A human must check what the interrupted action did." if needs_human else ""),
            {"run": run.id, "workflow": run.workflow, "step": step, "state": run.state.value},
        )
        return run

    def _advance(self, run_id: str) -> RunRecord:
        try:
            return self._advance_steps(run_id)
        except _SecretsUnavailable as exc:
            # Nothing started: the run stays where it is and can be resumed where the secret is available.
            run = self.store.run(run_id)
            step = next(
                (
                    s.name
                    for s in self.store.steps(run_id)
                    if s.state in (StepState.PENDING, StepState.STARTED, StepState.WAITING)
                ),
                "?",
            )
            msg = f"paused before step {step}: {exc.message}; resume with: blastwall runs resume {run_id}"
            self.store.event(run_id, "paused", msg, self.clock())
            log.warning("run %s %s", run_id, msg)
            return self.store.set_state(run_id, run.state, self.clock(), message=msg)

    def _advance_steps(self, run_id: str) -> RunRecord:
        run = self.store.run(run_id)
        if run.terminal:
            return run
        wf = self._build(run.workflow, run.params)
        records = self.store.steps(run_id)
        if [r.name for r in records] != [s.name for s in wf.steps]:
            return self._fail(
                run,
                records[0].name if records else "?",
                "the workflow's steps changed since this run started; start a new run",
                needs_human=False,
            )
        recs = {r.name: r for r in records}
        if run.state is RunState.PENDING:
            run = self._set(run, RunState.RUNNING)
        outputs: dict[str, Any] = {}
        skip_before = -1
        for i, step in enumerate(wf.steps):
            rec = recs[step.name]
            if rec.state is StepState.SKIPPED:
                continue
            if rec.state is StepState.FINISHED:
                outputs[step.name] = rec.output
                if isinstance(step, Route):
                    skip_before = self._route_target(wf, rec.output)
                continue
            if i < skip_before:
                self.store.skip_step(run_id, step.name, self.clock(), "not on the chosen route")
                continue
            if rec.state in (StepState.FAILED, StepState.INTERRUPTED):
                return self._fail(
                    run, step.name, rec.error or "step failed earlier", needs_human=True, step_state=rec.state
                )
            if isinstance(step, ApprovalGate):
                run, go = self._gate(run, step, rec.state, outputs)
                if not go:
                    return run
                outputs[step.name] = self.store.steps(run_id)[i].output
                self.crash.after_step(step.name)
                continue
            if rec.state is StepState.STARTED and not step.idempotent:
                return self._fail(
                    run,
                    step.name,
                    "this action was interrupted (found started but not finished); it may have partly "
                    "happened, so it is not run again. Check its effect by hand, then start a new run",
                    needs_human=True,
                    step_state=StepState.INTERRUPTED,
                )
            if isinstance(step, Action):
                run, go = self._recheck_gate(run, wf, step)
                if not go:
                    return run
            if run.state is not RunState.RUNNING:
                run = self._set(run, RunState.RUNNING)
            try:
                out = self._execute(run, step, outputs)
            except _StepFailed as f:
                risky = isinstance(step, Action) and not f.clean
                return self._fail(run, step.name, f.message, needs_human=risky)
            outputs[step.name] = out
            if isinstance(step, Route):
                skip_before = self._route_target(wf, out)
            self.crash.after_step(step.name)
        return self._set(run, RunState.SUCCEEDED, "all steps finished")

    @staticmethod
    def _route_target(wf: Workflow, output: Any) -> int:
        target = output["next"]
        return len(wf.steps) if target == END else wf.index(target)

    def _resolve(self, step: Step) -> dict[str, Secret]:
        """The step's secrets, resolved now (at its start). Unresolvable: the step cannot start here."""
        secrets: dict[str, Secret] = {}
        try:
            for key, ref in step.secrets.items():
                secrets[key] = ref.resolve(self.environ)
                Redactor.global_().add(secrets[key])
        except BlastwallError as exc:
            secrets.clear()
            raise _SecretsUnavailable(exc.message) from None
        return secrets

    def _call(
        self, run: RunRecord, step: Step, outputs: Mapping[str, Any], secrets: dict[str, Secret]
    ) -> str:
        """Run `step.fn` with its own secrets; return its output as checked JSON text."""
        values = [s.reveal() for s in secrets.values()]

        def scrub(text: str) -> str:
            for v in values:
                if v:
                    text = text.replace(v, "<secret>")
            return Redactor.global_().redact(text)

        ctx = StepContext(
            run_id=run.id,
            step=step.name,
            params=run.params,
            outputs=outputs,
            secrets=secrets,
            clock=self.clock,
            log=logging.getLogger(f"blastwall.workflow.step.{step.name}"),
        )
        try:
            try:
                result = step.fn(ctx)
            except StepPreconditionFailed as exc:
                raise _StepFailed(scrub(exc.message) + " (nothing was changed)", clean=True) from None
            except BlastwallError as exc:
                raise _StepFailed(scrub(exc.message), clean=False) from None
            except Exception as exc:  # noqa: BLE001 - any failure of a step fails the run, recorded
                raise _StepFailed(scrub(f"{type(exc).__name__}: {exc}"), clean=False) from None
            finally:
                ctx.close()
            try:
                text = json.dumps(result, sort_keys=True, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise _StepFailed(
                    f"step output is not plain JSON ({exc}); refusing to record it", clean=False
                ) from None
            if scrub(text) != text:
                raise _StepFailed("step output contains a credential; refusing to record it", clean=False)
            return text
        finally:
            values.clear()

    def _execute(self, run: RunRecord, step: Step, outputs: Mapping[str, Any]) -> Any:
        secrets = self._resolve(step)
        self.store.start_step(run.id, step.name, self.clock())
        log.info("run %s: step %s (%s) started", run.id, step.name, step.kind)
        text = self._call(run, step, outputs, secrets)
        out = json.loads(text)
        if isinstance(step, Check):
            if not isinstance(out, dict) or "passed" not in out:
                raise _StepFailed("a check must return {'passed': bool, ...}", clean=True)
            if not out["passed"]:
                raise _StepFailed(str(out.get("message") or "check failed"), clean=True)
        if isinstance(step, Route):
            label = out.get("route") if isinstance(out, dict) else out
            if not isinstance(label, str) or label not in step.routes:
                raise _StepFailed(
                    f"route returned {label!r}; expected one of {sorted(step.routes)}", clean=True
                )
            out = {"route": label, "next": step.routes[label]}
            text = json.dumps(out, sort_keys=True)
        self.crash.inside_step(step.name)
        self.store.finish_step(run.id, step.name, self.clock(), text)
        log.info("run %s: step %s finished", run.id, step.name)
        return out

    def _gate(
        self, run: RunRecord, step: ApprovalGate, state: StepState, outputs: Mapping[str, Any]
    ) -> tuple[RunRecord, bool]:
        if run.gate_step == step.name and run.plan is not None and run.plan_sha256:
            if plan_sha256(run.plan) != run.plan_sha256:
                return self._fail(
                    run,
                    step.name,
                    "the recorded plan does not match its hash; refusing to go on",
                    needs_human=True,
                ), False
        else:
            if run.state is not RunState.RUNNING:
                run = self._set(run, RunState.RUNNING)
            secrets = self._resolve(step)
            self.store.start_step(run.id, step.name, self.clock())
            try:
                text = self._call(run, step, outputs, secrets)
            except _StepFailed as f:
                return self._fail(run, step.name, f.message, needs_human=False), False
            plan = json.loads(text)
            digest = plan_sha256(plan)
            self.store.set_plan(run.id, gate_step=step.name, plan=plan, plan_sha256=digest, now=self.clock())
            run = self.store.run(run.id)
            for by, comment in self.gate.automatic_decisions(run, digest):
                self.store.add_decision(
                    run_id=run.id,
                    step=step.name,
                    by=by,
                    decision="approve",
                    at=self.clock(),
                    plan_sha256=digest,
                    comment=comment,
                )
        verdict = self.gate.decide(run, step.name, self.store.decisions(run.id), self.clock())
        if verdict.outcome is GateOutcome.APPROVED:
            self.store.finish_step(
                run.id,
                step.name,
                self.clock(),
                json.dumps(
                    {"plan_sha256": run.plan_sha256, "approved_by": list(verdict.approvers)}, sort_keys=True
                ),
            )
            return self._set(run, RunState.APPROVED, verdict.reason), True
        if verdict.outcome is GateOutcome.REJECTED:
            return self._end_at_gate(run, step.name, RunState.REJECTED, verdict.reason), False
        if verdict.outcome is GateOutcome.EXPIRED:
            return self._end_at_gate(run, step.name, RunState.EXPIRED, verdict.reason), False
        first = run.state is not RunState.WAITING
        self.store.wait_step(run.id, step.name, self.clock())
        run = self._set(run, RunState.WAITING, verdict.reason)
        if first:
            cmd = self.approve_command(run)
            log.info("run %s waits for approval: %s", run.id, cmd)
            self.notifier.notify(
                "waiting_approval",
                f"Blastwall run {run.id} ({run.workflow}) is waiting for approval of plan "
                f"sha256:{run.plan_sha256}. Review: blastwall runs show {run.id}  Approve: {cmd}",
                {
                    "run": run.id,
                    "workflow": run.workflow,
                    "requested_by": run.requested_by,
                    "plan_sha256": run.plan_sha256 or "",
                    "approve": cmd,
                },
            )
        return run, False

    def _recheck_gate(self, run: RunRecord, wf: Workflow, step: Action) -> tuple[RunRecord, bool]:
        """Right before an action: its gate must still approve the recorded plan, now."""
        gate = wf.gate_for(step.name)
        recs = {r.name: r for r in self.store.steps(run.id)}
        if gate is None or recs[gate.name].state is not StepState.FINISHED or run.gate_step != gate.name:
            return self._fail(
                run, step.name, "its approval gate has not passed; not running it", needs_human=False
            ), False
        if run.plan is None or plan_sha256(run.plan) != run.plan_sha256:
            return self._fail(
                run, step.name, "the recorded plan does not match its hash; not running it", needs_human=True
            ), False
        verdict = self.gate.decide(run, gate.name, self.store.decisions(run.id), self.clock())
        if verdict.outcome is GateOutcome.APPROVED:
            return run, True
        state = RunState.REJECTED if verdict.outcome is GateOutcome.REJECTED else RunState.EXPIRED
        reason = f"approval no longer valid when {step.name} was about to start ({verdict.reason})"
        run = self._set(run, state, f"{reason}; {step.name} did not run")
        log.warning("run %s %s: %s", run.id, state, reason)
        return run, False
