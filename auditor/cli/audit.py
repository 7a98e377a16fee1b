"""`blastwall audit`."""

from __future__ import annotations

import logging
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table
from rich.text import Text

from ..errors import BlastwallError
from . import _common

# The audit itself (config, model, discovery, engine, pydantic models) is imported when the command runs, not
# when `blastwall audit --help` describes it.
if TYPE_CHECKING:
    from ..audit import AuditOptions
    from ..model import AuditResult

log = logging.getLogger(__name__)


class Fmt(str, Enum):
    json = "json"
    html = "html"
    sarif = "sarif"


class FailOn(str, Enum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"


def write_outputs(result: AuditResult, formats: list[str], output_dir: Path) -> list[Path]:
    from reports.interface import write_reports

    output_dir.mkdir(parents=True, exist_ok=True)
    return list(write_reports(result, formats, output_dir))


def _summary(result: AuditResult, written: list[Path]) -> None:
    c = _common.console
    roots = sum(1 for x in result.credentials if x.root_equivalent is True)
    lost = {r for e in result.exposure for r in e.unrecoverable}
    same = sum(1 for b in result.backups if b.same_blast_radius is True)
    t = Table(title="Blastwall audit", show_header=False, title_justify="left")
    t.add_row("credentials found", str(len(result.credentials)))
    t.add_row("root-equivalent", Text(str(roots), style="bold red") if roots else "0")
    t.add_row("datasets unrecoverable if one is misused", Text(str(len(lost)), style="bold red") if lost else "0")
    t.add_row("backups in the same blast radius", str(same))
    counts: dict[str, int] = {}
    for f in result.findings:
        counts[f.severity.value] = counts.get(f.severity.value, 0) + 1
    t.add_row("findings", ", ".join(f"{v} {k}" for k, v in counts.items()) or "none")
    t.add_row("coverage gaps (not inspected)", str(len(result.coverage_gaps)))
    c.print(t)
    for p in written:
        c.print(f"wrote {p}")


def audit(
    paths: list[Path] = typer.Argument(None, help="Project directories or files to scan recursively."),
    home: Path = typer.Option(
        None, "--home", help="Home directory to scan for CLI and agent configs [default: yours]."
    ),
    no_home: bool = typer.Option(False, "--no-home", help="Do not scan any home directory."),
    no_env: bool = typer.Option(False, "--no-env", help="Do not scan the process environment."),
    offline: bool = typer.Option(
        False, "--offline", help="Never contact a provider; classify from format and location."
    ),
    no_db_connect: bool = typer.Option(
        False,
        "--no-db-connect",
        help="Do not connect to databases named by found URLs (their privileges "
        "stay unchecked); also `[providers.postgres] connect = false`.",
    ),
    probe_writes: bool = typer.Option(
        False,
        "--probe-writes",
        help="Allow deliberately invalid write probes where a provider's scopes can "
        "only be learnt that way (DigitalOcean, Stripe restricted keys).",
    ),
    config: Path = typer.Option(None, "--config", help="Configuration file [default: ./blastwall.toml if present]."),
    fmt: list[Fmt] = typer.Option(None, "--format", "-f", help="Report format; repeat for several [default: json]."),
    output_dir: Path = typer.Option(Path("."), "--output-dir", "-o", help="Where reports are written."),
    fail_on: FailOn = typer.Option(None, "--fail-on", help="Exit 3 when a finding at or above this severity exists."),
    max_file_mb: int = typer.Option(10, "--max-file-size", help="Skip (and report) files larger than this many MB."),
    json_out: bool = typer.Option(False, "--json", help="Print the JSON report on stdout instead of a summary."),
    no_history: bool = typer.Option(False, "--no-history", help="Do not record this audit in the state database."),
    jobs: int = typer.Option(
        None,
        "--jobs",
        "-j",
        min=1,
        help="Processes that scan files in parallel [default: one per available core]. "
        "The result is the same for any number.",
    ),
) -> None:
    """Find every credential on this machine and in PATHs, ask each provider what it can destroy,
    and report which data would be unrecoverable if it were misused.

    [bold]Examples[/]

      blastwall audit                                   # this machine: home dir + environment

      blastwall audit ~/src/app --format html --format json --output-dir report/

      blastwall audit . --no-home --no-env --offline --fail-on high   # CI gate on a repository

      blastwall audit ~/src --no-home --jobs 4          # scan a large tree with four processes

      blastwall audit ~/src/app --no-db-connect        # ask platforms, but never log in to a database

    Exit codes: 0 ok, 1 error, 2 usage, 3 findings at or above --fail-on.
    """
    if home is not None and no_home:
        raise typer.BadParameter("--home and --no-home are mutually exclusive")
    from ..audit import AuditOptions
    from ..config import load_config

    cfg = load_config(config, required=config is not None)
    formats = [f.value for f in (fmt or [Fmt.json])]
    opts = AuditOptions(
        paths=tuple(paths or ()),
        home=None if no_home else (home or Path.home()),
        include_env=not no_env,
        offline=offline,
        db_connect=not no_db_connect,
        probe_writes=probe_writes,
        config=cfg,
        max_file_bytes=max_file_mb * 1024 * 1024,
        jobs=jobs,
    )
    # the state database holds the history and the catalogue of Blastwall's own backups: with neither to read
    # or write, SQLAlchemy (~0.15 s to import) is not loaded at all
    db = _open_db(cfg) if cfg.backups or not no_history else None
    try:
        result = _run(opts, db)
        result = _record_history(db, result, no_history)
    finally:
        if db is not None:
            db.dispose()  # its pooled connections closed now (SQLite checkpoints its WAL), not by the GC at exit
    written = write_outputs(result, formats, output_dir)
    if json_out:
        from reports.json_report import render_json

        _common.print_json(render_json(result))
    else:
        _summary(result, written)
    if fail_on is not None:
        from ..model import Severity

        threshold = Severity(fail_on.value).rank
        if any(f.severity.rank >= threshold for f in result.findings):
            raise typer.Exit(3)


def _run(opts: AuditOptions, db: Any) -> AuditResult:
    """The audit, drawing its progress on a terminal; elsewhere Rich's progress machinery is not even imported."""
    from ..audit import AuditProgress, run_audit

    if not _common.err_console.is_terminal:
        return run_audit(opts, db=db)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    class RichProgress(AuditProgress):
        def __init__(self, progress: Progress) -> None:
            self.p = progress
            self.task = progress.add_task("discovering credentials", total=None)

        def files(self, n_files: int, n_bytes: int, path: str) -> None:
            if n_files % 200 == 0:
                desc = f"discovering credentials: {n_files} files, {n_bytes / 1e6:.1f} MB"
                self.p.update(self.task, description=desc)

        def phase(self, name: str, total: int | None = None) -> None:
            self.p.update(self.task, description=name, total=total, completed=0)

        def advance(self, n: int = 1) -> None:
            self.p.advance(self.task, n)

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_common.err_console,
        transient=True,
    ) as prog:
        return run_audit(opts, progress=RichProgress(prog), db=db)


def _open_db(cfg: Any) -> Any:
    from ..state import StateDB

    try:
        return StateDB(cfg.state.url)
    except Exception as exc:  # the audit still runs; what is lost is said, not swallowed
        log.warning(
            "state database not opened (%s): off-platform backups and audit history are left out", type(exc).__name__
        )
        _common.err_console.print(
            Text.assemble(
                ("warning:", "yellow"),
                f" the state database could not be opened ({type(exc).__name__}): audit "
                "history is not recorded and Blastwall's own backups are not in this audit",
            )
        )
        return None


def _record_history(db: Any, result: AuditResult, skip: bool) -> AuditResult:
    if db is None or skip:
        return result
    try:
        from .. import history
    except ImportError as exc:
        _common.err_console.print(
            Text.assemble(
                ("warning:", "yellow"), f" audit history not recorded (history module not loaded: {exc.name})"
            )
        )
        return result
    try:
        db.ensure_schema()
        diff = history.record_audit(db, result)
        return result.model_copy(update={"changes": diff.to_dict(limit=500)})
    except BlastwallError as exc:  # e.g. a state database newer than this Blastwall: say why
        _common.err_console.print(Text.assemble(("warning:", "yellow"), f" audit history not recorded: {exc.message}"))
        return result
    except Exception as exc:
        _common.err_console.print(
            Text.assemble(("warning:", "yellow"), f" audit history not recorded ({type(exc).__name__})")
        )
        return result


def register(app: typer.Typer) -> None:
    app.command("audit")(audit)
