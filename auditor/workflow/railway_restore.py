"""The platform volume restore workflow (`railway-volume-restore`): a volume backup kept by the platform.

    read      (read)    resolve project/environment/service -> volume instance; list its backups (read-only);
                        the backup must exist
    plan      (read)    the volume instance, its mount and size, the backup, and what will be lost: the
                        platform removes every backup newer than the restored one
    approval  (gate)    a human approves the plan (bound to its SHA-256; expiry, two-person rule)
    restore   (action)  re-read and compare with the approved plan, then the provider's
                        `restore_volume_backup` (stage, commit, wait): the only step that can write
    report    (read)    what happened, for the run record

The core stays provider-neutral: the provider is loaded by its config key through the registry and only
its `describe_volume_restore` (read-only) and `restore_volume_backup` (the action) are called. The
platform token is a step secret of `read` and `restore` only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..config import Config, RailwaySourceRef, SecretRef, TargetConfig
from ..errors import BlastwallError, ConfigError
from ..provider import Provider, ProviderContext
from ..redact import Redactor
from ..registry import load_providers
from .backups import referenced_env_names
from .model import Action, ApprovalGate, Read, StepContext, StepError, StepPreconditionFailed, Workflow

__all__ = ["VOLUME_RESTORE_STEPS", "VOLUME_RESTORE_WORKFLOW", "volume_restore_workflow"]

VOLUME_RESTORE_WORKFLOW = "railway-volume-restore"
VOLUME_RESTORE_STEPS = ("read", "plan", "approval", "restore", "report")


def volume_restore_workflow(
    config: Config, params: Mapping[str, Any], *, environ: Mapping[str, str] | None = None
) -> Workflow:
    environ = os.environ if environ is None else environ
    backup_id = str(params["backup_id"])
    target: TargetConfig = config.target(str(params["target"]))
    named = target.provider_ref()
    if target.kind != "railway-volume" or named is None:
        raise ConfigError(
            f"target {target.name!r} is a {target.kind} target, not a railway-volume target",
            file=config.path,
            hint="volume restores need a [[targets]] entry with kind = \"railway-volume\"",
        )
    key, ref = named
    assert isinstance(ref, RailwaySourceRef)
    fields = ref.model_dump(exclude={"token"})
    hidden = referenced_env_names(config)
    token_ref: SecretRef = ref.token

    def provider() -> Provider:
        providers, gaps = load_providers([key])
        p = providers.get(key)
        if p is None:
            raise StepError(f"the {key} provider could not be loaded", hint=gaps[0].reason if gaps else None)
        return p

    def pctx() -> ProviderContext:
        # Endpoint overrides and settings only: no configured secret variable is visible to the provider.
        env = {k: v for k, v in environ.items() if k not in hidden}
        return ProviderContext(settings=dict(config.providers.get(key) or {}), env=env)

    def describe(ctx: StepContext) -> dict[str, Any]:
        token = ctx.secret("token")
        Redactor.global_().add(token)
        try:
            return provider().describe_volume_restore(fields, backup_id, token, pctx())
        except NotImplementedError:
            raise StepError(f"the {key} provider cannot restore volume backups") from None

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
                "name": target.name,
                "kind": target.kind,
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
        try:
            return provider().restore_volume_backup(
                fields,
                backup_id,
                token,
                pctx(),
                volume_instance_id=approved["volume_instance"]["id"],
                commit_message=approved["commit_message"],
            )
        except NotImplementedError:
            raise StepPreconditionFailed(f"the {key} provider cannot restore volume backups") from None

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
        }

    token = {"token": token_ref}
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
        title=f"restore volume backup {backup_id} into {target.name}",
    )
