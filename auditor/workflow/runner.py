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
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ..errors import BlastwallError, StateError
from ..redact import Redactor
from ..secrets import Secret
from .approvals import Statement, decision_statement
from .gate import ApprovalRefused, DecisionReview, Gate, GateOutcome, GateVerdict
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

__all__ = ["RequestSigner", "Runner", "StepHooks", "WorkflowFactory", "utcnow"]

log = logging.getLogger("blastwall.workflow")

WorkflowFactory = Callable[[Mapping[str, Any]], Workflow]
# Signs a run's request statement; returns the SSH signature (armoured). Runs ssh-keygen, never sees a key.
RequestSigner = Callable[[Statement], str]


def utcnow() -> datetime:
    return datetime.now(UTC)


class StepHooks:
    """A seam at step boundaries; the production runner's hooks do nothing. Tests install their own
    (on the runner object) to kill the process at a chosen point; nothing here reads the environment."""

    def after_step(self, name: str) -> None:
        """Called after step `name` was recorded as finished."""

    def inside_step(self, name: str) -> None:
        """Called after step `name` did its work, before its completion is recorded."""


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
        hooks: StepHooks | None = None,
        approve_command: Callable[[RunRecord], str] | None = None,
    ) -> None:
        self.store = store
        self.workflows = workflows
        self.gate = gate
        self.clock = clock
        self.notifier = notifier or NullNotifier()
        self.environ = os.environ if environ is None else environ
        self.hooks = hooks or StepHooks()
        self._approve_command = approve_command or (
            lambda r: f"blastwall approve {r.id} --key ~/.ssh/id_ed25519 --plan-sha256 {r.plan_sha256}"
        )

    # -- public API --------------------------------------------------------------------
    def approve_command(self, run: RunRecord) -> str:
        return self._approve_command(run)

    def start(
        self, workflow: str, params: Mapping[str, Any], requested_by: str, *, sign_request: RequestSigner | None = None
    ) -> RunRecord:
        """Create a run and advance it. `sign_request`: the requester signs the request statement
        (run, workflow, target, backup, principal `requested_by`); it must verify like a decision."""
        wf = self._build(workflow, params)
        self.gate.preflight()
        run = self.store.create_run(
            run_id=new_run_id(),
            workflow=workflow,
            params=dict(params),
            requested_by=requested_by,
            steps=[(s.name, s.kind.value) for s in wf.steps],
            now=self.clock(),
            approvals_mode=self.gate.policy.mode,
        )
        if not self.gate.policy.signed:
            log.warning(
                'run %s: approvals are NOT authenticated ([approvals] mode = "unauthenticated"): '
                "anyone who can run blastwall can approve it",
                run.id,
            )
        if sign_request is not None:
            try:
                stmt = decision_statement(run, "request", requested_by)
                sig = sign_request(stmt)
                chk = self.gate.check_signed(run, "request", requested_by, stmt.text(), sig, self.clock())
                if not chk.ok:
                    raise ApprovalRefused(f"run {run.id}: the request signature does not verify: {chk.reason}")
            except BlastwallError as exc:
                self._set(run, RunState.FAILED, f"the request could not be signed: {exc.message}")
                raise
            self.store.set_request(run.id, statement=stmt.text(), signature=sig, now=self.clock())
        log.info("run %s: %s started by %s", run.id, workflow, requested_by)
        return self.advance(run.id)

    def statement(self, run_id: str, decision: str, principal: str) -> Statement:
        """The exact statement `principal` signs to `decision` (approve/reject) run `run_id` now."""
        run = self._must_wait(run_id)
        return decision_statement(run, decision, principal)

    def review(self, run_id: str) -> list[DecisionReview]:
        """Every decision at the run's gate, checked now; unverifiable ones are alerted on (once)."""
        run = self.store.run(run_id)
        if not run.gate_step:
            return []
        reviews = self.gate.review(run, run.gate_step, self.store.decisions(run_id), self.clock())
        self._alert([r for r in reviews if r.suspicious], run)
        return reviews

    def _decide(self, run: RunRecord, gate_step: str) -> GateVerdict:
        verdict = self.gate.decide(run, gate_step, self.store.decisions(run.id), self.clock())
        self._alert([r for r in verdict.ignored if r.suspicious], run)
        return verdict

    def _alert(self, suspicious: Sequence[DecisionReview], run: RunRecord) -> None:
        """A decision row that does not verify is evidence that someone wrote to the state database or
        forged a decision: record it once per row and reason, and send the webhook."""
        if not suspicious:
            return
        seen = {e.message for e in self.store.events(run.id) if e.kind == "unverified_decision"}
        for r in suspicious:
            d = r.decision
            msg = f"decision #{d.id} ({d.decision} by {d.by}) ignored: {r.reason}"
            if msg in seen:
                continue
            self.store.event(run.id, "unverified_decision", msg, self.clock())
            log.error("run %s: %s", run.id, msg)
            self.notifier.notify(
                "unverified_decision",
                f"Blastwall run {run.id} ({run.workflow}): an unverifiable {d.decision} decision by {d.by} "
                f"was found and ignored ({r.reason}). Someone may have written to the state database.",
                {
                    "run": run.id,
                    "workflow": run.workflow,
                    "decision": d.decision,
                    "by": d.by,
                    "decision_id": str(d.id),
                    "reason": r.reason,
                },
            )

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
        self,
        run_id: str,
        by: str,
        *,
        comment: str | None = None,
        plan_sha256: str | None = None,
        signature: str | None = None,
        statement: str | None = None,
    ) -> RunRecord:
        """Record an approval of the run's current plan, then continue the run if the gate opens.

        In signed mode `signature` is required: an SSH signature by `by` over `statement` (default: the
        run's approve statement for `by`); it is verified before anything is recorded."""
        self._must_wait(run_id)
        self.store.acquire(run_id, self.clock())
        try:
            run = self._must_wait(run_id)
            assert run.plan_sha256 is not None and run.gate_step is not None
            now = self.clock()
            if plan_sha256 is not None and plan_sha256.strip().lower() != run.plan_sha256:
                self.store.event(
                    run_id, "refused", f"approval by {by} refused: it was for plan sha256:{plan_sha256.strip()}", now
                )
                raise ApprovalRefused(
                    f"run {run_id}: you approved plan sha256:{plan_sha256.strip()}, but the run's plan is "
                    f"sha256:{run.plan_sha256}",
                    hint=f"review it with: blastwall runs show {run_id}",
                )
            decisions = self.store.decisions(run_id)
            verdict = self._decide(run, run.gate_step)
            if verdict.outcome is GateOutcome.EXPIRED:
                self._end_at_gate(run, run.gate_step, RunState.EXPIRED, verdict.reason)
                raise ApprovalRefused(
                    f"run {run_id} expired: {verdict.reason}", hint="start the workflow again to get a fresh plan"
                )
            try:
                text = self._signed(run, "approve", by, signature, statement, now)
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
                statement=text,
                signature=signature if text is not None else None,
            )
            log.info("run %s: approved by %s (plan sha256:%s)", run_id, by, run.plan_sha256)
            return self._advance(run_id)
        finally:
            self.store.release(run_id)

    def reject(
        self,
        run_id: str,
        by: str,
        *,
        comment: str | None = None,
        signature: str | None = None,
        statement: str | None = None,
    ) -> RunRecord:
        self._must_wait(run_id)
        self.store.acquire(run_id, self.clock())
        try:
            run = self._must_wait(run_id)
            assert run.plan_sha256 is not None and run.gate_step is not None
            if not by.strip():
                raise ApprovalRefused("a rejection needs a name", hint="pass --as NAME")
            now = self.clock()
            try:
                text = self._signed(run, "reject", by, signature, statement, now)
            except ApprovalRefused as exc:
                self.store.event(run_id, "refused", f"rejection by {by} refused: {exc.message}", now)
                raise
            self.store.add_decision(
                run_id=run_id,
                step=run.gate_step,
                by=by,
                decision="reject",
                at=now,
                plan_sha256=run.plan_sha256,
                comment=comment,
                statement=text,
                signature=signature if text is not None else None,
            )
            return self._end_at_gate(run, run.gate_step, RunState.REJECTED, f"rejected by {by}")
        finally:
            self.store.release(run_id)

    # -- internals ---------------------------------------------------------------------
    def _signed(
        self, run: RunRecord, decision: str, by: str, signature: str | None, statement: str | None, now: datetime
    ) -> str | None:
        """Verify a signed decision before it is recorded; returns the statement text to store
        (None in unauthenticated mode). Raises `ApprovalRefused` with the reason it does not verify."""
        if not self.gate.policy.signed:
            if signature is not None:
                log.warning("run %s: approvals are unauthenticated; the signature is not checked", run.id)
            return None
        if signature is None:
            raise ApprovalRefused(
                f'run {run.id}: a {decision} must be signed ([approvals] mode is "signed"); '
                f"a name alone ({by}) proves nothing",
                hint=f"sign it: blastwall {decision} {run.id} --key ~/.ssh/id_ed25519, or sign "
                f"`blastwall runs statement {run.id} --decision {decision} --as {by}` elsewhere and pass "
                "--signature FILE --as PRINCIPAL",
            )
        text = statement if statement is not None else decision_statement(run, decision, by).text()
        chk = self.gate.check_signed(run, decision, by, text, signature, now)
        if not chk.ok:
            raise ApprovalRefused(
                f"run {run.id}: the {decision} signature by {by} was refused: {chk.reason}"
                + self._explain(run, decision, by, text, signature),
                hint=f"sign exactly: blastwall runs statement {run.id} --decision {decision} --as {by}",
            )
        return text

    def _explain(self, run: RunRecord, decision: str, by: str, text: str, signature: str) -> str:
        """When a signature does not match the statement, say which statement it does match, if any:
        this run's other decision, or the same decision on another run (the usual mistakes/attacks)."""
        if text != decision_statement(run, decision, by).text():
            return ""
        other = "reject" if decision == "approve" else "approve"
        candidates: list[tuple[Statement, str]] = [
            (decision_statement(run, other, by), f"it signs a {other} of this run, presented as a {decision}")
        ]
        for r in self.store.runs(limit=50):
            if r.id != run.id and r.plan_sha256:
                candidates.append(
                    (decision_statement(r, decision, by), f"it signs run {r.id}'s statement, not run {run.id}'s")
                )
        for stmt, why in candidates:
            if self.gate.signature_matches(stmt, signature):
                return f" ({why})"
        return ""

    def _must_wait(self, run_id: str) -> RunRecord:
        run = self.store.run(run_id)
        if run.state is not RunState.WAITING:
            raise ApprovalRefused(
                f"run {run_id} is {run.state}, not waiting for approval", hint=f"see: blastwall runs show {run_id}"
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
        self, run: RunRecord, step: str, message: str, *, needs_human: bool, step_state: StepState = StepState.FAILED
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
                self.hooks.after_step(step.name)
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
            self.hooks.after_step(step.name)
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

    def _call(self, run: RunRecord, step: Step, outputs: Mapping[str, Any], secrets: dict[str, Secret]) -> str:
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
                raise _StepFailed(f"route returned {label!r}; expected one of {sorted(step.routes)}", clean=True)
            out = {"route": label, "next": step.routes[label]}
            text = json.dumps(out, sort_keys=True)
        self.hooks.inside_step(step.name)
        self.store.finish_step(run.id, step.name, self.clock(), text)
        log.info("run %s: step %s finished", run.id, step.name)
        return out

    def _gate(
        self, run: RunRecord, step: ApprovalGate, state: StepState, outputs: Mapping[str, Any]
    ) -> tuple[RunRecord, bool]:
        if run.gate_step == step.name and run.plan is not None and run.plan_sha256:
            if plan_sha256(run.plan) != run.plan_sha256:
                return self._fail(
                    run, step.name, "the recorded plan does not match its hash; refusing to go on", needs_human=True
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
        verdict = self._decide(run, step.name)
        if verdict.outcome is GateOutcome.APPROVED:
            self.store.finish_step(
                run.id,
                step.name,
                self.clock(),
                json.dumps({"plan_sha256": run.plan_sha256, "approved_by": list(verdict.approvers)}, sort_keys=True),
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
        verdict = self._decide(run, gate.name)
        if verdict.outcome is GateOutcome.APPROVED:
            return run, True
        if verdict.outcome is GateOutcome.WAITING:
            # e.g. an approver's key was removed from allowed_signers: back to the gate, nothing ran
            self.store.wait_step(run.id, gate.name, self.clock())
            run = self._set(
                run,
                RunState.WAITING,
                f"approval no longer valid when {step.name} was about to start ({verdict.reason}); "
                "waiting for approval again",
            )
            log.warning("run %s waits again: %s", run.id, verdict.reason)
            return run, False
        state = RunState.REJECTED if verdict.outcome is GateOutcome.REJECTED else RunState.EXPIRED
        reason = f"approval no longer valid when {step.name} was about to start ({verdict.reason})"
        run = self._set(run, state, f"{reason}; {step.name} did not run")
        log.warning("run %s %s: %s", run.id, state, reason)
        return run, False
