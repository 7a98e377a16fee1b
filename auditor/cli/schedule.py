"""`blastwall daemon` and the `blastwall schedule` group (list, run-now)."""

from __future__ import annotations

import logging
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from ..config import Config, load_config
from ..errors import ConfigError
from . import _common

__all__ = ["register"]

schedule_app = typer.Typer(
    name="schedule",
    help="Scheduled audits, backups and verifications: list them, run one now.\n\n"
    "Jobs come from \\[\\[audits]], \\[\\[backups]] and \\[\\[verifications]] entries that have a `schedule`; "
    "`blastwall daemon` runs them.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

_CONFIG_HELP = "Configuration file \\[default: ./blastwall.toml]."


def _load(config: Path | None) -> Config:
    return load_config(config, required=True)


def _db(cfg: Config):  # type: ignore[no-untyped-def]
    from ..state import StateDB

    return StateDB(cfg.state.url)


def daemon(
    config: Path = typer.Option(None, "--config", help=_CONFIG_HELP),
    healthcheck: bool = typer.Option(
        False,
        "--healthcheck",
        help="Do not run: exit 0 when every job's last run succeeded and none is "
        "overdue, 1 otherwise (for systemd, Docker and Kubernetes probes).",
    ),
) -> None:
    """Run scheduled audits, backups and verifications until SIGTERM or SIGINT.

    Several daemons may share one state database (\\[state] url, e.g. PostgreSQL): each slot of each
    job runs once, on whichever daemon claims it first. On SIGTERM the daemon starts nothing new and
    waits up to \\[scheduler] shutdown_timeout_s for running jobs, then records them as interrupted.

    [bold]Examples[/]

      blastwall daemon --config /etc/blastwall/blastwall.toml

      blastwall daemon --config blastwall.toml --healthcheck || echo unhealthy

    Exit codes: 0 stopped by SIGTERM (or healthy), 1 error, 2 usage, 3 unhealthy (--healthcheck found problems),
    130 stopped by SIGINT.
    """
    cfg = _load(config)
    if healthcheck:
        from ..scheduler.health import health_problems

        problems = health_problems(cfg, _db(cfg))
        if problems:
            for p in problems:
                _common.err_console.print(Text.assemble(("unhealthy:", "red"), f" {p}"))
            raise SystemExit(3)  # problems found; an error reading the state exits 1
        _common.console.print("healthy")
        return
    from ..scheduler import Daemon, jobs_from_config

    scheduled = [j for j in jobs_from_config(cfg) if j.schedule]
    if not scheduled:
        raise ConfigError(
            "no scheduled jobs in the configuration",
            file=cfg.path,
            hint='add `schedule = "0 3 * * *"` to an [[audits]], [[backups]] or [[verifications]] entry',
        )
    sched_log = logging.getLogger("auditor.scheduler")
    if sched_log.getEffectiveLevel() > logging.INFO:
        sched_log.setLevel(logging.INFO)
    d = Daemon(cfg)
    _common.err_console.print(
        f"blastwall daemon: {len(scheduled)} scheduled job(s); state {_safe_url(d.db.url)}", highlight=False
    )
    code = d.run_forever()
    raise SystemExit(code)


def _safe_url(url: str) -> str:
    from ..scheduler.jobs import scrub

    return scrub(url)


@schedule_app.command("list")
def list_cmd(
    config: Path = typer.Option(None, "--config", help=_CONFIG_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON array on stdout."),
) -> None:
    """Show every job, its schedule, its next run and its last outcome.

    [bold]Examples[/]

      blastwall schedule list

      blastwall schedule list --json | jq '.[] | select(.last_run.outcome == "failed") | .job'

    JSON: \\[{job, kind, schedule, timezone, next_run, last_run: null | {at, outcome, message}}].
    Times are UTC ISO-8601; next_run is the slot time (before any jitter).
    """
    from ..scheduler.health import job_rows

    cfg = _load(config)
    rows = job_rows(cfg, _db(cfg))
    if json_out:
        _common.print_json(rows)
        return
    if not rows:
        _common.console.print("no jobs configured")
        return
    t = Table(title="Blastwall schedule", title_justify="left")
    for col in ("job", "kind", "schedule", "next run (UTC)", "last run", "outcome", "message"):
        t.add_column(col, overflow="fold")
    for r in rows:
        last = r["last_run"] or {}
        outcome = last.get("outcome", "")
        colour = {"succeeded": "green", "failed": "bold red", "interrupted": "red", "missed": "red"}.get(outcome, "")
        t.add_row(
            r["job"],
            r["kind"],
            f"{r['schedule'] or '(manual)'} {r['timezone']}",
            r["next_run"] or "-",
            last.get("at", "never"),
            Text(outcome, style=colour),
            last.get("message", ""),
        )
    _common.console.print(t)


@schedule_app.command("run-now")
def run_now(
    job: str = typer.Argument(..., help="Job id as shown by `schedule list`, e.g. backup:maindb."),
    config: Path = typer.Option(None, "--config", help=_CONFIG_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print {job, outcome, message} as JSON on stdout."),
) -> None:
    """Run one job immediately in this process, outside its schedule (recorded like any run).

    [bold]Examples[/]

      blastwall schedule run-now backup:maindb

      blastwall schedule run-now audit:nightly --json

    Exit codes: 0 the job succeeded, 1 it failed or could not start.
    """
    from ..scheduler import Engine, find_job, jobs_from_config
    from ..scheduler.notify import WebhookNotifier

    cfg = _load(config)
    spec = find_job(jobs_from_config(cfg), job)
    engine = Engine(cfg, _db(cfg), notifier=WebhookNotifier.from_config(cfg.notifications))
    now = engine.clock.now()
    engine.store.register_daemon(engine.owner, now)
    engine.store.register_job(spec.id, spec.kind, now)
    try:
        report = engine.run_slot(spec, now, manual=True)
    finally:
        engine.store.stop_daemon(engine.owner, engine.clock.now())
    if json_out:
        _common.print_json({"job": report.job_id, "outcome": report.status, "message": report.message})
    else:
        colour = "green" if report.status == "succeeded" else "red"
        _common.console.print(Text.assemble(f"{report.job_id}: ", (report.status, colour), f" {report.message}"))
    if report.status != "succeeded":
        raise SystemExit(1)


# SystemExit rather than typer.Exit: the exit code must survive `app(standalone_mode=False)`.


def register(app: typer.Typer) -> None:
    """Add `daemon` and the `schedule` group to the main app."""
    app.command("daemon")(daemon)
    app.add_typer(schedule_app, name="schedule")
