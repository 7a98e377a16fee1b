"""The platform volume restore workflow (`railway-volume-restore`): a volume backup kept by the platform.

    read      (read)    resolve project/environment/service -> volume instance; list its backups (read-only);
                        the backup must exist
    plan      (read)    the volume instance, its mount and size, the backup, and what will be lost: the
                        platform removes every backup newer than the restored one
    approval  (gate)    a human approves the plan (bound to its SHA-256; expiry, two-person rule)
    restore   (action)  re-read and compare with the approved plan, then the provider's
                        `restore_volume_backup` (stage, commit, wait): the only step that can write
    report    (read)    what happened, for the run record

The core asks the registry for the provider's `VolumeRestorer` and gets this workflow; the runner, the gate
and crash-safe resume are the core's. The platform token is a step secret of `read` and `restore` only.
"""

from __future__ import annotations

from typing import Any

from auditor.errors import BlastwallError
from auditor.provider import ProviderContext
from auditor.redact import Redactor
from auditor.volume_restorer import VolumeRestoreRequest
from auditor.workflow.model import Action, ApprovalGate, Read, StepContext, StepPreconditionFailed, Workflow

from .volume_restore import describe_volume_restore, restore_volume_backup

__all__ = ["VOLUME_RESTORE_STEPS", "VOLUME_RESTORE_WORKFLOW", "volume_restore_workflow"]

VOLUME_RESTORE_WORKFLOW = "railway-volume-restore"
VOLUME_RESTORE_STEPS = ("read", "plan", "approval", "restore", "report")


def volume_restore_workflow(req: VolumeRestoreRequest) -> Workflow:
    backup_id = req.backup_id
    fields = {k: req.ref[k] for k in ("project", "environment", "service")}
    key = "railway"

    def pctx() -> ProviderContext:
        return ProviderContext(settings=dict(req.settings), env=dict(req.env))

    def describe(ctx: StepContext) -> dict[str, Any]:
        token = ctx.secret("token")
        Redactor.global_().add(token)
        return describe_volume_restore(fields, backup_id, token, pctx())

    def read(ctx: StepContext) -> dict[str, Any]:
        return describe(ctx)

    def plan(ctx: StepContext) -> dict[str, Any]:
        d = ctx.outputs["read"]
        vi = d["volume_instance"]
        return {
            "workflow": VOLUME_RESTORE_WORKFLOW,
            "action": f"restore the {key} volume from one of its {key} backups: stage the restore "
            "(volumeInstanceBackupRestore), commit the staged change (environmentPatchCommitStaged), wait "
            "until the platform's workflow completes",
            "target": {
                "name": req.target,
                "kind": "volume",
                "provider": key,
                "project": d["project"],
                "environment": d["environment"],
                "service": d["service"],
            },
            "volume_instance": vi,
            "backup": d["backup"],
            "will_be_lost": {
                "volume_data": f"everything now on the volume mounted at {vi.get('mount_path')} "
                f"({vi.get('current_size_mb')} MB in use) is replaced by the backup's contents",
                "current_size_mb": vi.get("current_size_mb"),
                "newer_backups": d["will_be_lost"],
                "note": f"{key} deletes every backup newer than the restored one",
            },
            "commit_message": f"blastwall {ctx.run_id}: restore volume backup {backup_id}",
        }

    def restore(ctx: StepContext) -> dict[str, Any]:
        approved = ctx.outputs["plan"]
        try:
            now = describe(ctx)
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
        token = ctx.secret("token")
        return restore_volume_backup(
            fields,
            backup_id,
            token,
            pctx(),
            volume_instance_id=approved["volume_instance"]["id"],
            commit_message=approved["commit_message"],
        )

    def report(ctx: StepContext) -> dict[str, Any]:
        p = ctx.outputs["plan"]
        return {
            "outcome": "restored",
            "target": p["target"],
            "volume_instance": {k: p["volume_instance"].get(k) for k in ("id", "mount_path")},
            "backup": p["backup"],
            "removed_backups": p["will_be_lost"]["newer_backups"],
            "approved": ctx.outputs["approval"],
            "restore": ctx.outputs["restore"],
            "summary": _summary(p),
        }

    token = {"token": req.token}
    return Workflow(
        VOLUME_RESTORE_WORKFLOW,
        (
            Read("read", read, secrets=token, description="find the volume and the backup (read-only)"),
            Read("plan", plan, description="what the restore does and what will be lost"),
            ApprovalGate("approval", lambda ctx: ctx.outputs["plan"], description="a human approves the plan"),
            Action(
                "restore",
                restore,
                secrets=token,
                description="stage and commit the volume restore (the only step that can write)",
            ),
            Read("report", report, description="summary for the run record"),
        ),
        title=f"restore volume backup {backup_id} into {req.target}",
    )


def _summary(plan: dict[str, Any]) -> list[str]:
    t, b, vi = plan["target"], plan["backup"], plan["volume_instance"]
    where = "/".join(str((t.get(k) or {}).get("name")) for k in ("project", "environment", "service"))
    return [
        f"restored volume backup {b.get('id')} ({b.get('created_at')}) into the volume at "
        f"{vi.get('mount_path')} of {where} (target {t.get('name')})",
        f"backups newer than it, removed by the platform: {len(plan['will_be_lost']['newer_backups'] or [])}",
    ]
