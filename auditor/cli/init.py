"""`blastwall init`: write a starter blastwall.toml, or one proposed from an audit report."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import ConfigError
from . import _common

__all__ = ["register"]


def init(
    output: Path = typer.Option(
        Path("blastwall.toml"), "--output", "-o", help="Where to write the configuration ('-' for stdout)."
    ),
    from_report: Path = typer.Option(
        None,
        "--from-report",
        metavar="REPORT.json",
        help="Propose a backup, a verification and a schedule for each database this "
        "audit report found without an off-platform backup.",
    ),
    store: str = typer.Option(
        "s3://blastwall-backups",
        "--store",
        help="Where the backups go: s3://BUCKET\\[/PREFIX] (object-locked, credentials from "
        "environment variables) or a local directory.",
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write a commented starter blastwall.toml, validated by the config loader.

    With --from-report, every database the audit found without an off-platform backup gets a \\[\\[sources]]
    entry, a daily \\[\\[backups]] entry and a weekly \\[\\[verifications]] entry. Secrets are never written:
    they are env: references, and the command lists the environment variables to set before
    `blastwall backup run`.

    [bold]Examples[/]

      blastwall init

      blastwall audit --format json -o blastwall-report && blastwall init --from-report blastwall-report/blastwall-report.json

      blastwall init --from-report report.json --store /mnt/offsite-backups -o /etc/blastwall/blastwall.toml

    Exit codes: 0 written, 1 error (unreadable report, file exists without --force).
    """
    from ..starter import StoreChoice, load_report, plan_from_report, starter_plan

    choice = StoreChoice(store)
    plan = plan_from_report(load_report(from_report), choice) if from_report else starter_plan(choice)
    text = plan.render()
    if str(output) == "-":
        _common.console.print(text, end="", markup=False, highlight=False, soft_wrap=True)
    else:
        if output.exists() and not force:
            raise ConfigError(
                f"{output} exists; nothing was written", hint="pass --force to overwrite it, or -o OTHER.toml"
            )
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
        _common.err_console.print(f"wrote {output}", highlight=False)
    say = _common.err_console.print
    if from_report:
        for line in plan.summary() or ["the report shows no database without an off-platform backup"]:
            say(f"  {line}", markup=False, highlight=False)
    env = plan.env()
    if env:
        say(
            "set these environment variables before `blastwall backup run` (values never go in the file):",
            highlight=False,
        )
        for name, what in sorted(env.items()):
            say(f"  {name}: {what}", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
