"""`blastwall state`: the state database (run history, approvals, backup catalogue, scheduler)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..config import load_config
from . import _common

__all__ = ["register"]

state_app = typer.Typer(
    name="state",
    help="The state database: audit history, workflow runs and approvals, the backup catalogue, "
    "scheduler runs. Its schema is migrated by Blastwall itself.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)


@state_app.command("upgrade")
def upgrade(
    config: Path = typer.Option(
        None, "--config", help="Configuration file \\[default: ./blastwall.toml]; its \\[state] url names the database."
    ),
    url: str = typer.Option(
        None,
        "--url",
        help="SQLAlchemy URL of the state database (overrides \\[state] url); "
        "default: SQLite in the user's state directory (BLASTWALL_STATE_DIR).",
    ),
) -> None:
    """Migrate the state database to the schema of this Blastwall, keeping every row.

    Every command that uses the state database does this on start (under a lock, so two daemons
    starting together do not race); run it by hand after an upgrade, before starting daemons, or to
    check a database. A database written by a NEWER Blastwall is refused, never downgraded.

    [bold]Examples[/]

      blastwall state upgrade

      blastwall state upgrade --config /etc/blastwall/blastwall.toml

      blastwall state upgrade --url postgresql://blastwall@db.internal/blastwall

    Exit codes: 0 up to date (or upgraded), 1 error (unreachable, or newer than this Blastwall).
    """
    from ..state import SCHEMA_HEAD, StateDB

    db = StateDB(url or load_config(config).state.url)
    try:
        change = db.upgrade()
    finally:
        db.dispose()
    if change.changed:
        _common.console.print(
            f"state database {db.safe_url}: upgraded from {change.before or 'an unversioned schema'} to {change.after}",
            highlight=False,
        )
    else:
        _common.console.print(f"state database {db.safe_url}: up to date (schema {SCHEMA_HEAD})", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(state_app)
