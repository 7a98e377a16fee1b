"""`blastwall backup …` (run, list, prune, check-store) and `blastwall verify`."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from ..config import Config, load_config
from ..errors import BackupError, BlastwallError, VerificationError
from . import _common

__all__ = ["register"]

backup_app = typer.Typer(
    name="backup",
    help="Off-platform backups: stream databases to independent, immutable storage.\n\n"
    "Exit codes: 0 ok, 1 error (the failure is recorded in the catalogue), 2 usage, 130 interrupted.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

_CONFIG_HELP = "Configuration file [default: ./blastwall.toml]."


def _load(config: Path | None) -> Config:
    return load_config(config, required=True)


def _db(cfg: Config):  # type: ignore[no-untyped-def]
    from ..state import StateDB

    return StateDB(cfg.state.url)


def _sigterm_as_interrupt() -> None:
    """SIGTERM unwinds like Ctrl-C, so uploads are aborted and scratch servers stopped."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (e.g. under a test runner)
        pass


def _human(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(n)


@backup_app.command("run")
def run_cmd(
    source: str = typer.Argument(..., help="The [[sources]] name to back up."),
    store: str = typer.Option(None, "--store", help="Which [[backups]] entry's store, when a source has several."),
    json_out: bool = typer.Option(False, "--json", help="Print the backup as one JSON object on stdout."),
    config: Path = typer.Option(None, "--config", help=_CONFIG_HELP),
) -> None:
    """Back up SOURCE now: pg_dump (custom format, one snapshot) → age (if encrypt_to) → the store, then the manifest.

    [bold]Examples[/]

      blastwall backup run prod-db

      blastwall backup run prod-db --json | jq -r .id

    JSON: {id, source, store, created_at, finished_at, size, sha256, status, error, last_verification}.
    Exit codes: 0 complete, 1 failed (recorded with the reason; no manifest is written), 130 interrupted.
    """
    from ..backup import run_backup
    from ..backup.catalog import Catalog

    cfg = _load(config)
    db = _db(cfg)
    _sigterm_as_interrupt()
    started: dict[str, str] = {}

    def progress(stage: str, **info: Any) -> None:
        if stage == "started":
            started["id"] = info["backup_id"]
            _common.err_console.print(f"backup {info['backup_id']} of {source}: dumping…", highlight=False)
        elif stage == "object_committed":
            _common.err_console.print(f"stored {_human(info.get('size'))}; writing the manifest", highlight=False)

    try:
        rec = run_backup(cfg, source, db=db, store=store, progress=progress)
    except (BlastwallError, KeyboardInterrupt):
        if json_out and "id" in started:
            failed = Catalog(db).get(started["id"])
            if failed is not None:
                _common.print_json(failed.to_json())
        raise
    if json_out:
        _common.print_json(rec.to_json())
        return
    _common.console.print(
        Text.assemble(("complete", "green"), f" {rec.id}  {_human(rec.size)}  sha256 {rec.sha256}\n  {rec.location}")
    )


@backup_app.command("list")
def list_cmd(
    source: str = typer.Option(None, "--source", help="Only this source."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON array on stdout."),
    config: Path = typer.Option(None, "--config", help=_CONFIG_HELP),
) -> None:
    """List catalogued backups (newest first) with the last verification of each.

    A run found 'running' whose process is gone is marked failed here.

    [bold]Examples[/]

      blastwall backup list

      blastwall backup list --json | jq '.[] | select(.status == "complete" and .last_verification == null) | .id'

    JSON: [{id, source, store, created_at, finished_at, size, sha256, status: complete|failed|running, error,
    last_verification: null | {at, outcome: passed|failed, failure_code, message}}].
    """
    from ..backup import list_backups

    cfg = _load(config)
    recs = list_backups(_db(cfg), source)
    if json_out:
        _common.print_json([r.to_json() for r in recs])
        return
    if not recs:
        _common.console.print("no backups yet: run `blastwall backup run SOURCE`")
        return
    t = Table(title="Backups", title_justify="left")
    for col in ("id", "source", "store", "created (UTC)", "size", "status", "last verification"):
        t.add_column(col, overflow="fold")
    for r in recs:
        lv = r.last_verification
        ver = (
            "never"
            if lv is None
            else (f"{lv.outcome} {lv.at:%Y-%m-%d %H:%M}" + (f" ({lv.failure_code})" if lv.failure_code else ""))
        )
        status = Text(r.status, style={"complete": "green", "failed": "red"}.get(r.status, ""))
        if r.status == "failed" and r.error:
            status.append(f"\n{r.error[:120]}")
        t.add_row(r.id, r.source, r.store, f"{r.created_at:%Y-%m-%d %H:%M:%S}", _human(r.size), status, ver)
    _common.console.print(t)


@backup_app.command("prune")
def prune_cmd(
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be deleted; delete nothing."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
    config: Path = typer.Option(None, "--config", help=_CONFIG_HELP),
) -> None:
    """Delete backups older than their keep_days, keeping each source's newest complete backup.

    Objects still under object lock are refused by the store: that is expected and reported as kept,
    not as an error.

    [bold]Examples[/]

      blastwall backup prune --dry-run

      blastwall backup prune
    """
    from ..backup.prune import prune_backups

    cfg = _load(config)
    report = prune_backups(cfg, _db(cfg), dry_run=dry_run)
    if json_out:
        _common.print_json(report.to_json())
        return
    for item in report.items:
        colour = {"deleted": "green", "would_delete": "yellow", "kept": "dim"}.get(item.action, "white")
        _common.console.print(Text.assemble((item.action, colour), f" {item.backup_id}: {item.reason}"))
    _common.console.print(f"{report.deleted} deleted, {report.kept} kept", highlight=False)


@backup_app.command("check-store")
def check_store_cmd(
    store: str = typer.Argument(..., help="The [[stores]] name."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
    config: Path = typer.Option(None, "--config", help=_CONFIG_HELP),
) -> None:
    """Check whether the store's own credentials could delete or overwrite existing backups.

    Reads versioning and object-lock settings and probes with a dedicated probe object under
    `<prefix>.blastwall-probe/` (never a real backup). In compliance mode the probe object stays
    until its 1-day retention ends.

    [bold]Examples[/]

      blastwall backup check-store offsite

      blastwall backup check-store offsite --json | jq .can_delete_backups

    JSON: {store, can_delete_backups: true|false|null, can_overwrite_backups: true|false|null,
    object_lock: null | {mode, days}, versioning, reasons: [...]}.
    Exit codes: 0 the store protects backups, 1 error, 2 usage, 3 backups can be deleted or overwritten
    (or that is unknown).
    """
    from ..backup.posture import check_store

    cfg = _load(config)
    posture = check_store(cfg, store, db=_db(cfg))
    doc = posture.to_json()
    if json_out:
        _common.print_json(doc)
    else:

        def show(v: bool | None, bad: str, good: str) -> tuple[str, str]:
            return ("unknown", "yellow") if v is None else ((bad, "red") if v else (good, "green"))

        lock = doc["object_lock"]
        lock_text = f"{lock['mode']} {lock['days']} days" if lock else "none"
        _common.console.print(
            Text.assemble(
                f"store {store}\n  delete backups:    ",
                show(doc["can_delete_backups"], "POSSIBLE", "refused"),
                "\n  overwrite backups: ",
                show(doc["can_overwrite_backups"], "POSSIBLE", "refused"),
                f"\n  object lock:       {lock_text}\n  versioning:        {doc['versioning']}",
            )
        )
        for r in doc["reasons"]:
            _common.console.print(f"  - {r}", highlight=False)
    if not posture.protected:
        raise typer.Exit(3)  # a problem found (backups deletable, overwritable or unknown), not a crash


def verify_cmd(
    backup_id: str = typer.Argument(None, help="The backup id (see `blastwall backup list`)."),
    latest: str = typer.Option(None, "--latest", help="Verify the newest complete backup of this source."),
    quick: bool = typer.Option(
        False, "--quick", help="Integrity only: exists, size, SHA-256, decrypts, pg_restore --list; no restore."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
    config: Path = typer.Option(None, "--config", help=_CONFIG_HELP),
) -> None:
    """Prove a backup restores: restore it into a scratch PostgreSQL and check it (or --quick).

    Full: streams the object (checking size, SHA-256 and decryption) into pg_restore on a scratch
    server at least as new as the dump, compares every table's row count with the manifest, runs
    the source's [[sources.checks]], and drops the scratch database. The result is recorded and
    shown by `blastwall backup list`.

    [bold]Examples[/]

      blastwall verify --latest prod-db

      blastwall verify prod-db-20260101T030000Z-a1b2c3 --quick --json | jq .failure_code

    Failure codes: object_missing, manifest_missing, size_mismatch, checksum_mismatch, decrypt_failed,
    invalid_dump, restore_failed, count_mismatch, assertion_failed, no_scratch_server (not verified:
    no local server of the dump's product and version).
    Exit codes: 0 passed, 1 error (the check could not run), 2 usage, 3 the backup failed verification,
    130 interrupted.
    """
    from ..backup.verify import verify_backup

    if bool(backup_id) == bool(latest):
        raise typer.BadParameter("give either BACKUP_ID or --latest SOURCE")
    cfg = _load(config)
    _sigterm_as_interrupt()
    if not json_out:
        _common.err_console.print(
            f"verifying {'the latest backup of ' + latest if latest else backup_id} "
            f"({'quick' if quick else 'full restore'})…",
            highlight=False,
        )
    res = verify_backup(cfg, backup_id, latest=latest, quick=quick, db=_db(cfg))
    if json_out:
        _common.print_json(res.to_json())
    else:
        colour = "green" if res.passed else "red"
        code = f" [{res.failure_code}]" if res.failure_code else ""
        _common.console.print(
            Text.assemble(
                (res.outcome, colour), f"{code} {res.backup} ({res.mode}, {res.duration_s:.1f}s)\n  {res.message}"
            )
        )
        for t in res.tables:
            if not t.ok:
                _common.console.print(
                    f"  table {t.name}: expected {t.expected_rows}, found {t.found_rows}", highlight=False
                )
        for c in res.checks:
            _common.console.print(
                f"  check {'ok  ' if c.passed else 'FAIL'} {c.sql}  (expect {c.expect}, found {c.value!r})",
                highlight=False,
            )
    if not res.passed:
        raise typer.Exit(3)  # the backup was checked and found bad; errors that stop the check exit 1


def register(app: typer.Typer) -> None:
    """Add `backup` and `verify` to the main app."""
    app.add_typer(backup_app, name="backup")
    app.command("verify")(verify_cmd)


# Referenced so linters keep the imports that document the error types this module surfaces.
_ = (BackupError, VerificationError)
