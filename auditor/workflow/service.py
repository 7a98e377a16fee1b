"""Composition root of the workflow subsystem: builds the runner the CLI uses from a `Config`.

The CLI always gets a `HumanGate`; nothing here can build `UnsafeAutoApprove`.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

from ..config import Config
from ..state import StateDB
from .gate import ApprovalPolicy, HumanGate
from .notify import Notifier, NullNotifier, WebhookNotifier
from .runner import Runner, WorkflowFactory, utcnow
from .store import RunRecord, RunStore

__all__ = ["approve_command", "open_runner"]


def approve_command(run: RunRecord, config_path: str | None = None, *, signed: bool = True) -> str:
    cmd = ["blastwall", "approve", run.id] + (["--key", "~/.ssh/id_ed25519"] if signed else ["--as", "YOUR_NAME"])
    if run.plan_sha256:
        cmd += ["--plan-sha256", run.plan_sha256]
    if config_path:
        cmd += ["--config", config_path]
    return shlex.join(cmd)


def _config_dir(config: Config, config_path: str | None) -> Path | None:
    """A relative `allowed_signers` path is relative to the configuration file's directory."""
    where = config.path or config_path
    return Path(where).resolve().parent if where else None


def open_runner(
    config: Config,
    *,
    config_path: str | None = None,
    environ: Mapping[str, str] | None = None,
    clock: Callable[[], datetime] = utcnow,
    notifier: Notifier | None = None,
) -> Runner:
    environ = os.environ if environ is None else environ
    db = StateDB(config.state.url)
    from .restore import restore_workflow
    from .volume import volume_workflows

    workflows: dict[str, WorkflowFactory] = {
        "restore": lambda params: restore_workflow(config, params, db=db, environ=environ, clock=clock),
        **volume_workflows(config, environ),
    }
    if notifier is None:
        url = config.notifications.webhook_url
        notifier = WebhookNotifier(url, environ=environ) if url is not None else NullNotifier()
    return Runner(
        RunStore(db),
        workflows,
        HumanGate(ApprovalPolicy.from_config(config.approvals, base_dir=_config_dir(config, config_path))),
        clock=clock,
        notifier=notifier,
        environ=environ,
        approve_command=lambda r: approve_command(r, config_path, signed=config.approvals.mode == "signed"),
    )
