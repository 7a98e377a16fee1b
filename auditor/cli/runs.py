"""`blastwall runs …`, `approve`, `reject` and `restore`: the gated workflow runner's commands.

Exit codes: 0 succeeded (or shown), 1 error or failed run, 4 waiting for approval, rejected or expired.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from ..config import load_config
from ..workflow.model import RunState
from ..workflow.railway_restore import VOLUME_RESTORE_WORKFLOW
from ..workflow.runner import Runner
from ..workflow.service import open_runner
from ..workflow.store import RunRecord, iso
from ._common import console, err_console, print_json

__all__ = ["exit_code_for", "register", "run_detail", "run_summary"]

runs_app = typer.Typer(
    name="runs",
    help="Workflow runs (restores): list them, show one, resume one after a crash.\n\n"
    "Exit codes: 0 ok, 1 error or failed run, 4 approval pending, rejected or expired.",
    no_args_is_help=True,
)

_CONFIG = typer.Option(
    None, "--config", "-c", help="Configuration file [default: ./blastwall.toml if present]."
)


def exit_code_for(run: RunRecord) -> int:
    if run.state is RunState.SUCCEEDED:
        return 0
    if run.state in (RunState.WAITING, RunState.REJECTED, RunState.EXPIRED):
        return 4
    if run.state is RunState.FAILED:
        return 1
    return 1


def _runner(config: Path | None) -> Runner:
    cfg = load_config(config, required=config is not None)
    return open_runner(cfg, config_path=str(config) if config else None)


def run_summary(run: RunRecord) -> dict[str, Any]:
    return {
        "id": run.id,
        "workflow": run.workflow,
        "state": run.state.value,
        "created_at": iso(run.created_at),
        "updated_at": iso(run.updated_at),
        "plan_sha256": run.plan_sha256,
        "requested_by": run.requested_by,
    }


def run_detail(runner: Runner, run: RunRecord) -> dict[str, Any]:
    doc = run_summary(run)
    doc["plan"] = run.plan
    doc["steps"] = [
        {
            "name": s.name,
            "state": s.state.value,
            "started_at": iso(s.started_at),
            "finished_at": iso(s.finished_at),
            "kind": s.kind,
            "attempts": s.attempts,
            "error": s.error,
        }
        for s in runner.store.steps(run.id)
    ]
    doc["decisions"] = [
        {
            "by": d.by,
            "decision": d.decision,
            "at": iso(d.at),
            "plan_sha256": d.plan_sha256,
            "comment": d.comment,
        }
        for d in runner.store.decisions(run.id)
    ]
    doc["message"] = run.message
    doc["needs_human"] = run.needs_human
    doc["approve_command"] = runner.approve_command(run) if run.state is RunState.WAITING else None
    return doc


def _render_outcome(runner: Runner, run: RunRecord) -> None:
    """Human output after a run advanced: stdout gets the run id and state; next steps on stderr."""
    console.print(f"run {run.id}: {run.state.value}", highlight=False)
    if run.message:
        console.print(f"  {run.message}", highlight=False, markup=False)
    if run.state is RunState.WAITING:
        console.print(
            f"  plan sha256:{run.plan_sha256}  (review: blastwall runs show {run.id})", highlight=False
        )
        console.print("  to approve:", highlight=False)
        console.print(f"    {runner.approve_command(run)}", highlight=False, markup=False)
        console.print(
            f"  to reject:  blastwall reject {run.id} --as YOUR_NAME", highlight=False, markup=False
        )
    elif run.state is RunState.SUCCEEDED:
        _render_report(runner, run)
    elif run.state is RunState.FAILED and run.needs_human:
        err_console.print(
            Text("  a human must check what the interrupted step did before anything else is tried", style="bold"),
            highlight=False,
        )


def _render_report(runner: Runner, run: RunRecord) -> None:
    report = next((s.output for s in runner.store.steps(run.id) if s.name == "report"), None)
    if isinstance(report, dict) and run.workflow == VOLUME_RESTORE_WORKFLOW:
        t, b, vi = report.get("target", {}), report.get("backup", {}), report.get("volume_instance", {})
        where = "/".join(str((t.get(k) or {}).get("name")) for k in ("project", "environment", "service"))
        console.print(
            f"  restored volume backup {b.get('id')} ({b.get('created_at')}) into the volume at "
            f"{vi.get('mount_path')} of {where} (target {t.get('name')})",
            highlight=False,
            markup=False,
        )
        console.print(
            f"  backups newer than it, removed by the platform: {len(report.get('removed_backups') or [])}",
            highlight=False,
        )
        return
    if not isinstance(report, dict) or run.workflow != "restore":
        return
    target, backup, dump = report.get("target", {}), report.get("backup", {}), report.get("safety_dump", {})
    console.print(
        f"  restored backup {backup.get('id')} (sha256 {str(backup.get('sha256'))[:12]}…) into target "
        f"{target.get('name')} ({target.get('host')}:{target.get('port')}/{target.get('database')})",
        highlight=False,
        markup=False,
    )
    console.print(
        f"  safety dump of the target before the restore: {dump.get('backup_id')} at {dump.get('location')}",
        highlight=False,
        markup=False,
    )
    tables = report.get("post_check", {}).get("tables", [])
    console.print(
        f"  post-restore check: {len(tables)} table(s) match the backup's manifest", highlight=False
    )


@runs_app.command("list")
def runs_list(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array on stdout."),
    config: Path = _CONFIG,
) -> None:
    """List workflow runs, newest first.

    Examples:
      blastwall runs list
      blastwall runs list --json | jq '.[] | select(.state == "waiting_approval") | .id'
    """
    runner = _runner(config)
    runs = runner.store.runs()
    if as_json:
        print_json([run_summary(r) for r in runs])
        return
    if not runs:
        console.print("no runs yet")
        return
    t = Table("id", "workflow", "state", "requested by", "created", "updated")
    for r in runs:
        t.add_row(
            r.id, r.workflow, r.state.value, r.requested_by, iso(r.created_at) or "", iso(r.updated_at) or ""
        )
    console.print(t)


@runs_app.command("show")
def runs_show(
    run_id: str = typer.Argument(..., metavar="RUN"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
    config: Path = _CONFIG,
) -> None:
    """Show one run: its plan, steps and every decision.

    Examples:
      blastwall runs show run_1a2b3c4d5e6f
      blastwall runs show run_1a2b3c4d5e6f --json | jq .plan
    """
    runner = _runner(config)
    run = runner.store.run(run_id)
    doc = run_detail(runner, run)
    if as_json:
        print_json(doc)
        return
    console.print(
        Text.assemble(f"run {run.id}  workflow {run.workflow}  state ", (run.state.value, "bold"),
                      f"  requested by {run.requested_by}"),
        highlight=False,
    )
    if run.message:
        console.print(f"message: {run.message}", highlight=False, markup=False)
    if run.plan is not None:
        console.print(f"plan sha256:{run.plan_sha256}", highlight=False)
        console.print(json.dumps(run.plan, indent=2, sort_keys=True), highlight=False, markup=False)
    t = Table("step", "kind", "state", "attempts", "started", "finished", "error")
    for s in doc["steps"]:
        t.add_row(
            s["name"],
            s["kind"],
            s["state"],
            str(s["attempts"]),
            s["started_at"] or "",
            s["finished_at"] or "",
            s["error"] or "",
        )
    console.print(t)
    for d in doc["decisions"]:
        console.print(
            f"{d['at']}  {d['decision']} by {d['by']}  plan sha256:{d['plan_sha256']}"
            + (f"  \u201c{d['comment']}\u201d" if d["comment"] else ""),
            highlight=False,
            markup=False,
        )
    if doc["approve_command"]:
        console.print(f"to approve: {doc['approve_command']}", highlight=False, markup=False)


@runs_app.command("resume")
def runs_resume(run_id: str = typer.Argument(..., metavar="RUN"), config: Path = _CONFIG) -> None:
    """Continue a run that stopped (crash, reboot). Finished steps are not run again; an action that was
    interrupted is never re-run: the run fails and asks for a human.

    Examples:
      blastwall runs resume run_1a2b3c4d5e6f
    """
    runner = _runner(config)
    run = runner.advance(run_id)
    _render_outcome(runner, run)
    raise typer.Exit(exit_code_for(run))


def approve(
    run_id: str = typer.Argument(..., metavar="RUN"),
    by: str = typer.Option(..., "--as", help="Your name, recorded with the decision."),
    comment: str = typer.Option(None, "--comment", help="Why (recorded)."),
    plan_sha256: str = typer.Option(
        None, "--plan-sha256", help="The plan hash you reviewed; refused if the run's plan differs."
    ),
    config: Path = _CONFIG,
) -> None:
    """Approve the plan of a waiting run; the run continues when enough approvals are in.

    The approval is bound to the plan's SHA-256 and expires ([approvals] expire_after_s, default 1 h).

    Examples:
      blastwall approve run_1a2b3c4d5e6f --as alice --plan-sha256 9f86d08…
      blastwall approve run_1a2b3c4d5e6f --as alice --comment "checked with the on-call"
    """
    runner = _runner(config)
    run = runner.approve(run_id, by, comment=comment, plan_sha256=plan_sha256)
    _render_outcome(runner, run)
    raise typer.Exit(exit_code_for(run))


def reject(
    run_id: str = typer.Argument(..., metavar="RUN"),
    by: str = typer.Option(..., "--as", help="Your name, recorded with the decision."),
    comment: str = typer.Option(None, "--comment", help="Why (recorded)."),
    config: Path = _CONFIG,
) -> None:
    """Reject the plan of a waiting run. Nothing is changed; the run ends as rejected (exit 4).

    Examples:
      blastwall reject run_1a2b3c4d5e6f --as alice --comment "wrong target"
    """
    runner = _runner(config)
    run = runner.reject(run_id, by, comment=comment)
    _render_outcome(runner, run)
    raise typer.Exit(exit_code_for(run))


def restore(
    backup_id: str = typer.Argument(..., metavar="BACKUP_ID"),
    target: str = typer.Option(..., "--target", help="A configured [[targets]] name."),
    requested_by: str = typer.Option(
        None, "--as", help="Who asks for the restore [default: your login name]."
    ),
    config: Path = _CONFIG,
) -> None:
    """Restore a backup into a target, through the gated workflow.

    Fetches and fully verifies the backup in a scratch database, builds a plan against the live target
    and waits for approval (exit 4, printing the run id and the approve command). After approval: a safety
    dump of the target to the backup's store, the restore, a row-count check against the backup's
    manifest, and a report. Rejected or expired: the target is not touched.

    A target of kind "railway-volume" restores one of Railway's own volume backups instead (BACKUP_ID is
    the Railway volume backup id): read the volume and its backups, plan (including the newer backups
    Railway removes), approval, then stage and commit the restore.

    Examples:
      blastwall restore app-20261201T020000Z-1a2b3c --target app-staging
      blastwall restore 9b2f6c1e-0d4a-4c55-8a8e-3f1d2c3b4a5f --target shop-pg-volume
      blastwall approve run_1a2b3c4d5e6f --as bob --plan-sha256 9f86d08…
    """
    cfg = load_config(config, required=config is not None)
    tcfg = cfg.target(target)  # a clear error before anything runs
    workflow = VOLUME_RESTORE_WORKFLOW if tcfg.kind == "railway-volume" else "restore"
    runner = open_runner(cfg, config_path=str(config) if config else None)
    run = runner.start(
        workflow, {"backup_id": backup_id, "target": target}, requested_by or getpass.getuser()
    )
    _render_outcome(runner, run)
    raise typer.Exit(exit_code_for(run))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    app.add_typer(runs_app, name="runs")
    app.command("approve")(approve)
    app.command("reject")(reject)
    app.command("restore")(restore)
