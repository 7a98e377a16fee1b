"""The Railway volume restore workflow (`railway-volume-restore`), built for the core's `VolumeRestorer` seam.

    read      (read)    resolve project/environment/service (also projects shared through externalWorkspaces)
                        -> its volume instance, the backups, the service's replicas and latest deployment,
                        and the environment's staged changes (read-only)
    plan      (read)    refuses a replicated (HA) service and foreign staged changes (unless the target sets
                        allow_foreign_staged, and then lists them); what will be lost: the volume's data and
                        every backup newer than the restored one
    approval  (gate)    a human approves the plan (bound to its SHA-256; expiry, two-person rule)
    stage     (action)  re-read and compare with the approved plan, then the one volumeInstanceBackupRestore;
                        its workflow id is the step's recorded output. Never re-run: staging is not idempotent
    wait      (read)    poll workflowStatus until it is no longer Running (bounded); Error/NotFound fails the
                        run with Railway's text and nothing is committed
    recheck   (read)    the staged changes must be the swap plus only what the approved plan lists
    commit    (action)  environmentPatchCommitStaged(environmentId, commitMessage, skipDeploys: false); its
                        String result is ignored
    confirm   (read)    the volume instance is READY and the service's new deployment started
    report    (read)    what happened, for the run record

Every step is recorded by the core's runner, so `runs resume` after a crash at any boundary continues with
the next step: the stage and the commit are each sent at most once. The token is a step secret of the
steps that talk to Railway only.
"""

from __future__ import annotations

from typing import Any

from auditor.errors import BlastwallError
from auditor.provider import ProviderContext
from auditor.redact import Redactor
from auditor.volume_restorer import VolumeRestoreRequest
from auditor.workflow.model import Action, ApprovalGate, Read, StepContext, StepError, StepPreconditionFailed, Workflow

from .volume_restore import (
    commit_staged,
    confirm_restore,
    describe_volume_restore,
    foreign_changes,
    stage_restore,
    staged_changes,
    wait_for_workflow,
)

__all__ = ["VOLUME_RESTORE_STEPS", "VOLUME_RESTORE_WORKFLOW", "volume_restore_workflow"]

VOLUME_RESTORE_WORKFLOW = "railway-volume-restore"
VOLUME_RESTORE_STEPS = ("read", "plan", "approval", "stage", "wait", "recheck", "commit", "confirm", "report")


def _fail(err: BlastwallError, what: str) -> StepError:
    return StepError(f"{what}: {Redactor.global_().redact(err.message)}", hint=err.hint)


class _RailwayVolumeRestore:
    """The steps of one run; each step is a method so that the phases stay small and testable."""

    def __init__(self, req: VolumeRestoreRequest) -> None:
        self.req = req
        self.fields = {k: req.ref[k] for k in ("project", "environment", "service")}
        self.allow_foreign = bool(req.ref.get("allow_foreign_staged", False))

    def ctx(self) -> ProviderContext:
        return ProviderContext(settings=dict(self.req.settings), env=dict(self.req.env))

    def token(self, ctx: StepContext) -> Any:
        token = ctx.secret("token")
        Redactor.global_().add(token)
        return token

    def describe(self, ctx: StepContext) -> dict[str, Any]:
        return describe_volume_restore(self.fields, self.req.backup_id, self.token(ctx), self.ctx())

    # -- steps ------------------------------------------------------------------------------------------
    def read(self, ctx: StepContext) -> dict[str, Any]:
        return self.describe(ctx)

    def plan(self, ctx: StepContext) -> dict[str, Any]:
        d = ctx.outputs["read"]
        where = f"{d['project']['name']}/{d['environment']['name']}/{d['service']['name']}"
        replicas = d["service"].get("replicas")
        if isinstance(replicas, int) and replicas > 1:
            raise StepError(
                f"refused: {where} runs {replicas} replicas (a replicated, HA database); restoring one volume "
                "would leave the replicas on newer data and the cluster would diverge. Railway's CLI refuses "
                "this too",
                hint="restore HA databases with Railway's own tooling for the cluster, or scale to one replica",
            )
        staged = list(d["staged_changes"])
        if staged and not self.allow_foreign:
            raise StepError(
                f"refused: the environment {d['environment']['name']} already has {len(staged)} staged change(s) "
                f"({_list(staged)}); committing the restore would apply them too (allow_foreign_staged is off)",
                hint="commit or discard them in Railway first, or set allow_foreign_staged = true in the target's "
                "ref to have the plan list them for approval",
            )
        vi = d["volume_instance"]
        return {
            "workflow": VOLUME_RESTORE_WORKFLOW,
            "action": "restore the railway volume from one of its railway backups: stage the restore "
            "(volumeInstanceBackupRestore), wait for Railway's workflow to complete, check what is staged, "
            "commit the environment's staged changes (environmentPatchCommitStaged, skipDeploys false), "
            "confirm the volume is READY and the service redeploys",
            "target": {
                "name": self.req.target,
                "kind": "volume",
                "provider": self.req.provider,
                "project": d["project"],
                "environment": d["environment"],
                "service": {k: d["service"][k] for k in ("id", "name")},
            },
            "volume_instance": vi,
            "backup": d["backup"],
            "will_be_lost": {
                "volume_data": f"everything now on the volume mounted at {vi.get('mount_path')} "
                f"({vi.get('current_size_mb')} MB in use) is replaced by the backup's contents",
                "current_size_mb": vi.get("current_size_mb"),
                "newer_backups": d["will_be_lost"],
                "note": "railway deletes every backup newer than the restored one",
            },
            # Someone else's staged changes that the commit applies as well; approved only as listed here.
            "foreign_staged_changes": staged,
            "commit_message": f"blastwall {ctx.run_id}: restore volume backup {self.req.backup_id}",
        }

    def stage(self, ctx: StepContext) -> dict[str, Any]:
        approved = ctx.outputs["plan"]
        try:
            now = self.describe(ctx)
        except BlastwallError as exc:
            raise StepPreconditionFailed(f"cannot re-read the volume before restoring: {exc.message}") from None
        if (
            now["volume_instance"]["id"] != approved["volume_instance"]["id"]
            or now["backup"] != approved["backup"]
            or now["will_be_lost"] != approved["will_be_lost"]["newer_backups"]
        ):
            raise StepPreconditionFailed(
                "the volume or its backups changed since the plan was approved (what would be lost differs); "
                "the approval does not cover what is there now. Start a new restore to get a fresh plan"
            )
        if now["staged_changes"] != approved["foreign_staged_changes"]:
            raise StepPreconditionFailed(
                "the environment's staged changes differ from the approved plan "
                f"(now: {_list(now['staged_changes']) or 'none'}); a commit would apply changes nobody approved. "
                "Start a new restore to get a fresh plan"
            )
        try:
            workflow_id = stage_restore(
                self.fields,
                self.token(ctx),
                self.ctx(),
                volume_instance_id=approved["volume_instance"]["id"],
                backup_id=self.req.backup_id,
            )
        except BlastwallError as exc:
            raise _fail(exc, "staging the restore failed") from None
        return {"workflow_id": workflow_id}

    def wait(self, ctx: StepContext) -> dict[str, Any]:
        try:
            return wait_for_workflow(self.fields, self.token(ctx), self.ctx(), ctx.outputs["stage"]["workflow_id"])
        except BlastwallError as exc:
            raise _fail(exc, "the restore was not staged") from None

    def recheck(self, ctx: StepContext) -> dict[str, Any]:
        approved = ctx.outputs["plan"]
        try:
            changes = staged_changes(self.fields, self.token(ctx), self.ctx(), approved["target"]["environment"]["id"])
        except BlastwallError as exc:
            raise _fail(exc, "cannot read the staged changes") from None
        swap, other = foreign_changes(
            changes, approved["volume_instance"].get("volume_id"), list(approved["foreign_staged_changes"])
        )
        if other:
            raise StepError(
                f"refused before committing: the environment has staged change(s) the approved plan does not list "
                f"({_list(other)}); the commit would apply them too. Nothing was committed",
                hint="review them in Railway; the restore's own swap stays staged and uncommitted",
            )
        if not swap:
            raise StepError(
                "refused before committing: Railway's workflow completed but no volume swap is staged "
                "for this volume; nothing was committed"
            )
        return {"staged_changes": changes, "swap": swap}

    def commit(self, ctx: StepContext) -> dict[str, Any]:
        approved = ctx.outputs["plan"]
        env_id = approved["target"]["environment"]["id"]
        try:
            commit_staged(
                self.fields,
                self.token(ctx),
                self.ctx(),
                environment_id=env_id,
                commit_message=approved["commit_message"],
            )
        except BlastwallError as exc:
            raise _fail(exc, "the commit failed") from None
        return {"environment_id": env_id, "committed": True}

    def confirm(self, ctx: StepContext) -> dict[str, Any]:
        approved, read = ctx.outputs["plan"], ctx.outputs["read"]
        try:
            return confirm_restore(
                self.fields,
                self.token(ctx),
                self.ctx(),
                environment_id=approved["target"]["environment"]["id"],
                service_id=approved["target"]["service"]["id"],
                volume_instance_id=approved["volume_instance"]["id"],
                deployment_before=read["service"].get("deployment_before"),
            )
        except BlastwallError as exc:
            raise _fail(exc, "the restore is not confirmed") from None

    def report(self, ctx: StepContext) -> dict[str, Any]:
        p = ctx.outputs["plan"]
        return {
            "outcome": "restored",
            "target": p["target"],
            "volume_instance": {k: p["volume_instance"].get(k) for k in ("id", "mount_path")},
            "backup": p["backup"],
            "removed_backups": p["will_be_lost"]["newer_backups"],
            "foreign_staged_changes_applied": p["foreign_staged_changes"],
            "approved": ctx.outputs["approval"],
            "workflow": ctx.outputs["wait"],
            "confirmed": ctx.outputs["confirm"],
            "summary": _summary(p, ctx.outputs["confirm"]),
        }

    def workflow(self) -> Workflow:
        token = {"token": self.req.token}
        return Workflow(
            VOLUME_RESTORE_WORKFLOW,
            (
                Read("read", self.read, secrets=token, description="find the volume, its backups and what is staged"),
                Read(
                    "plan",
                    self.plan,
                    description="what the restore does and what will be lost; HA and foreign "
                    "staged changes are refused here",
                ),
                ApprovalGate("approval", lambda ctx: ctx.outputs["plan"], description="a human approves the plan"),
                Action(
                    "stage",
                    self.stage,
                    secrets=token,
                    description="volumeInstanceBackupRestore, once; records Railway's workflow id",
                ),
                Read("wait", self.wait, secrets=token, description="poll workflowStatus until it is no longer Running"),
                Read(
                    "recheck",
                    self.recheck,
                    secrets=token,
                    description="staged changes are the swap plus only what the plan lists",
                ),
                Action(
                    "commit",
                    self.commit,
                    secrets=token,
                    description="environmentPatchCommitStaged(skipDeploys: false), once",
                ),
                Read(
                    "confirm", self.confirm, secrets=token, description="the volume is READY and the service redeploys"
                ),
                Read("report", self.report, description="summary for the run record"),
            ),
            title=f"restore volume backup {self.req.backup_id} into {self.req.target}",
        )


def volume_restore_workflow(req: VolumeRestoreRequest) -> Workflow:
    return _RailwayVolumeRestore(req).workflow()


def _list(changes: list[dict[str, Any]]) -> str:
    return ", ".join(f"{ch['section']}/{ch['id']}" for ch in changes)


def _summary(plan: dict[str, Any], confirmed: dict[str, Any]) -> list[str]:
    t, b, vi = plan["target"], plan["backup"], plan["volume_instance"]
    where = "/".join(str((t.get(k) or {}).get("name")) for k in ("project", "environment", "service"))
    lines = [
        f"restored volume backup {b.get('id')} ({b.get('created_at')}) into the volume at "
        f"{vi.get('mount_path')} of {where} (target {t.get('name')})",
        f"backups newer than it, removed by the platform: {len(plan['will_be_lost']['newer_backups'] or [])}",
        f"volume {confirmed.get('volume_state')}, deployment {(confirmed.get('deployment') or {}).get('status')}",
    ]
    if plan["foreign_staged_changes"]:
        lines.append(f"also committed (listed in the approved plan): {_list(plan['foreign_staged_changes'])}")
    return lines
