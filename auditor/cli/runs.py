"""`blastwall runs …`, `approve`, `reject` and `restore`: the gated workflow runner's commands.

Exit codes: 0 succeeded (or shown), 1 error or failed run, 4 waiting for approval, rejected or expired.
"""

from __future__ import annotations

import getpass
import json
import re
import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from ..config import load_config
from ..errors import ConfigError
from ..workflow.approvals import SshKeygen, Statement, principal_for_public_key
from ..workflow.model import RunState
from ..workflow.runner import Runner
from ..workflow.service import open_runner
from ..workflow.store import RunRecord, iso
from ..workflow.volume import workflow_for_target
from ._common import console, err_console, print_json

__all__ = ["exit_code_for", "register", "run_detail", "run_summary"]

runs_app = typer.Typer(
    name="runs",
    help="Workflow runs (restores): list them, show one, resume one after a crash.\n\n"
    "Exit codes: 0 ok, 1 error or failed run, 4 approval pending, rejected or expired.",
    no_args_is_help=True,
)

_CONFIG = typer.Option(None, "--config", "-c", help="Configuration file [default: ./blastwall.toml if present].")


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
        "approvals_mode": run.approvals_mode or "unauthenticated",
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
    reviews = {r.decision.id: r for r in runner.review(run.id)}
    doc["decisions"] = []
    for d in runner.store.decisions(run.id):
        r = reviews.get(d.id)
        doc["decisions"].append(
            {
                "by": d.by,
                "decision": d.decision,
                "at": iso(d.at),
                "plan_sha256": d.plan_sha256,
                "comment": d.comment,
                "signed": d.signature is not None,
                # True: the signature verifies now; False: ignored (it counts for nothing); None: not checked
                "verified": r.verified if r else None,
                "status": "unauthenticated"
                if r is not None and r.verified is None
                else "verified"
                if r is not None and r.verified
                else "ignored"
                if r is not None
                else "other gate",
                "reason": r.reason if r else None,
                "key": r.key if r else None,
            }
        )
    doc["approvals"] = {
        "mode": run.approvals_mode or "unauthenticated",
        "authenticated": run.approvals_mode == "signed",
        "request_signed": run.request_signature is not None,
    }
    if run.approvals_mode != "signed":
        doc["approvals"]["warning"] = (
            "approvals of this run are NOT authenticated: anyone who can run blastwall could approve it"
        )
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
        console.print(f"  plan sha256:{run.plan_sha256}  (review: blastwall runs show {run.id})", highlight=False)
        console.print("  to approve:", highlight=False)
        console.print(f"    {runner.approve_command(run)}", highlight=False, markup=False)
        reject_cmd = re.sub(r" --plan-sha256 \S+", "", runner.approve_command(run).replace(" approve ", " reject ", 1))
        console.print(f"  to reject:  {reject_cmd}", highlight=False, markup=False)
    elif run.state is RunState.SUCCEEDED:
        _render_report(runner, run)
    elif run.state is RunState.FAILED and run.needs_human:
        err_console.print(
            Text("  a human must check what the interrupted step did before anything else is tried", style="bold"),
            highlight=False,
        )


def _render_report(runner: Runner, run: RunRecord) -> None:
    report = next((s.output for s in runner.store.steps(run.id) if s.name == "report"), None)
    summary = report.get("summary") if isinstance(report, dict) else None
    if isinstance(summary, list):  # a provider's workflow (platform volume restore) says what it did
        for line in summary:
            console.print(f"  {line}", highlight=False, markup=False)
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
    console.print(f"  post-restore check: {len(tables)} table(s) match the backup's manifest", highlight=False)


@runs_app.command("list")
def runs_list(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array on stdout."), config: Path = _CONFIG
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
        t.add_row(r.id, r.workflow, r.state.value, r.requested_by, iso(r.created_at) or "", iso(r.updated_at) or "")
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
        Text.assemble(
            f"run {run.id}  workflow {run.workflow}  state ",
            (run.state.value, "bold"),
            f"  requested by {run.requested_by}",
        ),
        highlight=False,
    )
    if run.message:
        console.print(f"message: {run.message}", highlight=False, markup=False)
    if "warning" in doc["approvals"]:
        console.print(Text.assemble(("warning:", "bold red"), f" {doc['approvals']['warning']}"))
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
            f"{d['at']}  {d['decision']} by {d['by']}  plan sha256:{d['plan_sha256']}  [{d['status']}]"
            + (f"  \u201c{d['comment']}\u201d" if d["comment"] else ""),
            highlight=False,
            markup=False,
        )
        if d["status"] == "ignored":
            console.print(
                f"    IGNORED, unverified decision: {d['reason']}", style="bold red", highlight=False, markup=False
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


_KEY = typer.Option(
    None,
    "--key",
    help="Sign with this SSH key: runs `ssh-keygen -Y sign -f KEY` (a private key file, or the .pub of a "
    "key in ssh-agent or on a FIDO authenticator). Blastwall never reads the private key.",
)
_SIGNATURE = typer.Option(
    None, "--signature", help="An SSH signature made elsewhere over `blastwall runs statement RUN` (needs --as)."
)
_STATEMENT = typer.Option(
    None,
    "--statement",
    help="The statement file that was signed [default: FILE without .sig if it exists, else this run's "
    "statement]. It must equal this run's statement; a difference is named in the error.",
)


def _signed_decision(
    runner: Runner,
    run_id: str,
    decision: str,
    by: str | None,
    key: Path | None,
    signature: Path | None,
    statement: Path | None,
) -> tuple[str, str | None, str | None]:
    """(principal, signature, statement text) for a decision: signed here with --key, read from
    --signature, or neither (only accepted in unauthenticated mode)."""
    if key is not None and signature is not None:
        raise ConfigError("pass either --key (sign here) or --signature FILE (signed elsewhere), not both")
    if signature is not None:
        if not by:
            raise ConfigError("--signature needs --as PRINCIPAL: the principal that signed")
        if statement is None and signature.name.endswith(".sig"):
            # `ssh-keygen -Y sign stmt.txt` writes stmt.txt.sig: when the signed text came along, check it
            # field by field, so a mismatch names the field (run, plan-sha256, decision, principal…)
            beside = signature.with_name(signature.name.removesuffix(".sig"))
            statement = beside if beside.is_file() else None
        try:
            sig = signature.read_text(encoding="ascii")
            text = statement.read_text(encoding="utf-8") if statement is not None else None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the signature or statement file: {exc}") from None
        return by, sig, text
    if key is not None:
        principal = by or _principal_of(runner, key)
        stmt = runner.statement(run_id, decision, principal)
        return principal, SshKeygen().sign(key, stmt), stmt.text()
    if not by:
        raise ConfigError("sign the decision with --key PATH, or pass --signature FILE --as PRINCIPAL")
    return by, None, None


def _principal_of(runner: Runner, key: Path) -> str:
    signers = runner.gate.policy.allowed_signers
    pub = key if key.suffix == ".pub" else key.with_name(key.name + ".pub")
    if signers is None or not pub.exists():
        raise ConfigError(f"cannot tell which principal {key} is enrolled as", hint="name it with --as PRINCIPAL")
    return principal_for_public_key(signers, pub.read_text(encoding="utf-8"))


def _decision_exit(run: RunRecord) -> int:
    """approve/reject: 0 once the decision is recorded (whatever the run then waits for); 1 if the run
    went on and failed."""
    return 1 if run.state is RunState.FAILED else 0


def approve(
    run_id: str = typer.Argument(..., metavar="RUN"),
    by: str = typer.Option(
        None,
        "--as",
        help="Your enrolled principal (with --signature; optional with --key). "
        'A bare name counts only when [approvals] mode = "unauthenticated".',
    ),
    key: Path = _KEY,
    signature: Path = _SIGNATURE,
    statement: Path = _STATEMENT,
    comment: str = typer.Option(None, "--comment", help="Why (recorded)."),
    plan_sha256: str = typer.Option(
        None, "--plan-sha256", help="The plan hash you reviewed; refused if the run's plan differs."
    ),
    config: Path = _CONFIG,
) -> None:
    """Approve the plan of a waiting run with an SSH signature; the run continues when enough approvals are in.

    The approval signs the run's statement (run, workflow, target, backup, plan SHA-256, gate) with a key
    enrolled in [approvals] allowed_signers; it is verified now and again whenever the gate is evaluated.
    Exit 0 when the approval was recorded, 1 if the run then failed, 4 when it was refused.

    Examples:
      blastwall approve run_1a2b3c4d5e6f --key ~/.ssh/id_ed25519_sk --plan-sha256 9f86d08…
      blastwall runs statement run_1a2b3c4d5e6f --as alice@example.com > stmt.txt   # on the runner
      ssh-keygen -Y sign -n blastwall-approval -f ~/.ssh/id_ed25519_sk stmt.txt     # on the laptop
      blastwall approve run_1a2b3c4d5e6f --signature stmt.txt.sig --as alice@example.com
    """
    runner = _runner(config)
    principal, sig, text = _signed_decision(runner, run_id, "approve", by, key, signature, statement)
    run = runner.approve(run_id, principal, comment=comment, plan_sha256=plan_sha256, signature=sig, statement=text)
    _render_outcome(runner, run)
    raise typer.Exit(_decision_exit(run))


def reject(
    run_id: str = typer.Argument(..., metavar="RUN"),
    by: str = typer.Option(None, "--as", help="Your enrolled principal (see approve)."),
    key: Path = _KEY,
    signature: Path = _SIGNATURE,
    statement: Path = _STATEMENT,
    comment: str = typer.Option(None, "--comment", help="Why (recorded)."),
    config: Path = _CONFIG,
) -> None:
    """Reject the plan of a waiting run with an SSH signature. Nothing is changed; the run ends as rejected.

    Exit 0 when the rejection was recorded (later `runs resume` of the run exits 4), 4 when it was refused.

    Examples:
      blastwall reject run_1a2b3c4d5e6f --key ~/.ssh/id_ed25519 --comment "wrong target"
      blastwall reject run_1a2b3c4d5e6f --signature reject.txt.sig --as bob@example.com
    """
    runner = _runner(config)
    principal, sig, text = _signed_decision(runner, run_id, "reject", by, key, signature, statement)
    run = runner.reject(run_id, principal, comment=comment, signature=sig, statement=text)
    _render_outcome(runner, run)
    raise typer.Exit(_decision_exit(run))


@runs_app.command("statement")
def runs_statement(
    run_id: str = typer.Argument(..., metavar="RUN"),
    by: str = typer.Option(..., "--as", help="The principal that will sign (as enrolled in allowed_signers)."),
    decision: str = typer.Option("approve", "--decision", help="approve or reject."),
    config: Path = _CONFIG,
) -> None:
    """Print, byte-exact, the statement to sign for a decision on a waiting run.

    Sign it anywhere with plain OpenSSH (namespace blastwall-approval) and bring back only the .sig file.

    Examples:
      blastwall runs statement run_1a2b3c4d5e6f --as alice@example.com > stmt.txt
      ssh-keygen -Y sign -n blastwall-approval -f ~/.ssh/id_ed25519_sk stmt.txt
      blastwall approve run_1a2b3c4d5e6f --signature stmt.txt.sig --as alice@example.com
    """
    if decision not in ("approve", "reject"):
        raise ConfigError(f"--decision must be approve or reject, not {decision!r}")
    stmt: Statement = _runner(config).statement(run_id, decision, by)
    sys.stdout.write(stmt.text())
    sys.stdout.flush()


def restore(
    backup_id: str = typer.Argument(..., metavar="BACKUP_ID"),
    target: str = typer.Option(..., "--target", help="A configured [[targets]] name."),
    requested_by: str = typer.Option(
        None, "--as", help="Who asks for the restore [default: your login name, or the --key's principal]."
    ),
    key: Path = typer.Option(
        None, "--key", help="Sign the request with this SSH key (required by the two-person rule in signed mode)."
    ),
    config: Path = _CONFIG,
) -> None:
    """Restore a backup into a target, through the gated workflow.

    Fetches and fully verifies the backup in a scratch database, builds a plan against the live target
    and waits for approval (exit 4, printing the run id and the approve command). After approval: a safety
    dump of the target to the backup's store, the restore, a row-count check against the backup's
    manifest, and a report. Rejected or expired: the target is not touched.

    A target of kind "volume" restores one of the platform's own volume backups instead (BACKUP_ID is the
    platform's volume backup id, e.g. a Railway one): the provider's workflow reads the volume and its
    backups, plans (including the newer backups the platform removes), waits for approval, then restores.

    Examples:
      blastwall restore app-20261201T020000Z-1a2b3c --target app-staging
      blastwall restore 9b2f6c1e-0d4a-4c55-8a8e-3f1d2c3b4a5f --target shop-pg-volume
      blastwall restore app-20261201T020000Z-1a2b3c --target app-staging --key ~/.ssh/id_ed25519_sk
      blastwall approve run_1a2b3c4d5e6f --key ~/.ssh/id_ed25519 --plan-sha256 9f86d08…
    """
    cfg = load_config(config, required=config is not None)
    workflow = workflow_for_target(cfg, target)  # a clear error before anything runs
    runner = open_runner(cfg, config_path=str(config) if config else None)
    policy = runner.gate.policy
    if policy.signed and policy.two_person and key is None:
        raise ConfigError(
            "the two-person rule needs a signed request: the requester must be an enrolled principal",
            hint=f"blastwall restore {backup_id} --target {target} --key ~/.ssh/id_ed25519",
        )
    who = requested_by or (_principal_of(runner, key) if key is not None else getpass.getuser())
    signer = (lambda stmt: SshKeygen().sign(key, stmt)) if key is not None else None
    run = runner.start(workflow, {"backup_id": backup_id, "target": target}, who, sign_request=signer)
    _render_outcome(runner, run)
    raise typer.Exit(exit_code_for(run))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    app.add_typer(runs_app, name="runs")
    app.command("approve")(approve)
    app.command("reject")(reject)
    app.command("restore")(restore)
