"""`blastwall report`: re-render a saved JSON report, and show what changed between audits.

report render REPORT.json [--format html|sarif]... [--output-dir DIR]
report diff [--since last|DATE] [--json]
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer
from rich.text import Text

from ..errors import BlastwallError
from ._common import console, err_console, print_json

__all__ = ["register", "report_app"]

report_app = typer.Typer(
    name="report", help="Re-render saved reports and compare audits.", no_args_is_help=True, rich_markup_mode="rich"
)


class RenderFormat(StrEnum):
    html = "html"
    sarif = "sarif"


_RENDER_HELP = """Re-render a saved JSON report (schema_version 1) as HTML and/or SARIF, without re-auditing.

This is also how very large results are rendered: audit once with --format json, render later.
Files are written as blastwall-report.html / blastwall-report.sarif.

[bold]Examples[/]

  blastwall report render blastwall-report/blastwall-report.json

  blastwall report render report.json --format html --format sarif --output-dir out/

Exit codes: 0 ok, 1 error (unreadable or malformed report, unwritable directory), 2 usage.
"""


@report_app.command("render", help=_RENDER_HELP)
def render(
    report: Path = typer.Argument(..., metavar="REPORT.json", help="A JSON report written by blastwall audit."),
    formats: list[RenderFormat] = typer.Option(
        None, "--format", "-f", help="Output format; repeat for several. Default: html.", case_sensitive=False
    ),
    output_dir: Path = typer.Option(
        None, "--output-dir", "-o", help="Where to write. Default: the directory of REPORT.json.", file_okay=False
    ),
) -> None:
    from reports.interface import write_reports
    from reports.json_report import load_json

    if not report.is_file():
        raise BlastwallError(f"report {report} does not exist", hint="pass the path of a blastwall-report.json")
    result = load_json(report)
    chosen = [f.value for f in (formats or [RenderFormat.html])]
    out = output_dir if output_dir is not None else report.resolve().parent
    for path in write_reports(result, chosen, out):
        console.print(str(path), highlight=False, soft_wrap=True)


_DIFF_HELP = """List findings that are new or resolved between two recorded audits.

Every [bold]blastwall audit[/] is recorded in the state database. By default the latest audit is
compared with the one recorded before it (--since last). With a DATE (2026-11-30 or
2026-11-30T12:00:00Z) it is compared with the newest audit at or before that moment. Findings are
matched by their stable id. When there is no earlier audit, every current finding is new.

--json prints one document: {from, to, new: [finding], resolved: [finding], counts}.

[bold]Examples[/]

  blastwall report diff

  blastwall report diff --since 2026-11-01 --json | jq '.new[] | select(.severity=="critical")'

Exit codes: 0 ok, 1 error (no audit recorded yet, bad state database), 2 usage.
"""


@report_app.command("diff", help=_DIFF_HELP)
def diff(
    since: str = typer.Option("last", "--since", metavar="last|DATE", help="Compare with this audit."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
    state_url: str = typer.Option(
        None,
        "--state-url",
        help="State database URL [default: [state] url of the config, else SQLite in the state directory].",
    ),
    config: Path = typer.Option(None, "--config", help="Configuration file [default: ./blastwall.toml if present]."),
) -> None:
    from ..config import load_config
    from ..history import diff_since, parse_since
    from ..state import StateDB

    when = parse_since(since)
    url = state_url or load_config(config, required=config is not None).state.url
    db = StateDB(url)
    try:
        changes = diff_since(db, when)
    finally:
        db.dispose()
    doc = changes.to_dict()
    if as_json:
        print_json(doc)
        return
    before = doc["from"]
    after = doc["to"]
    err_console.print(
        f"comparing audit {after['generated_at']} with "
        + (f"{before['generated_at']}" if before else "nothing (no earlier audit)"),
        highlight=False,
    )
    if not doc["new"] and not doc["resolved"]:
        console.print("No changes in findings.")
        return
    for title, items, mark in (("New", doc["new"], "+"), ("Resolved", doc["resolved"], "-")):
        console.print(Text(f"{title} findings ({len(items)})", style="bold"))
        for f in items:
            loc = f"{f['path']}:{f['line']}" if f.get("line") else (f.get("path") or "")
            console.print(
                Text.assemble(
                    f" {mark} [{f['severity']}] {f['rule']}: {f['message']}", (f" {loc}" if loc else "", "dim")
                ),
                soft_wrap=True,
            )


def register(app: typer.Typer) -> None:
    """Add the `report` group to the main app."""
    app.add_typer(report_app, name="report")
