"""The `blastwall` command line: a thin layer over the library.

Commands parse arguments, call the core, render, and map outcomes to exit codes:
  0 ok · 1 error · 2 usage · 3 findings at or above --fail-on · 4 approval pending or rejected · 130 interrupted
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

# typer ships its own copy of click: only its classes (through typer.core) are used here, so that the
# standalone click package is never imported.
from ..errors import BlastwallError

__all__ = ["COMMANDS", "all_commands", "app", "full_command", "main"]

EXIT_CODES_HELP = (
    "Exit codes: 0 ok, 1 error, 2 usage, 3 problems found (findings at or above --fail-on, a deletable "
    "store, a failed verification, unhealthy), 4 approval pending or rejected, 130 interrupted."
)

# Each top-level command: the module that registers it, and the one-line summary shown by `blastwall --help`.
# Modules are imported only when their command runs (or its own --help is asked for): start-up stays small.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("init", "Write a commented starter blastwall.toml, or propose backups from an audit report."),
    "audit": (
        "audit",
        "Find every credential on this machine and in PATHs, ask each provider what it can "
        "destroy, and report which data would be unrecoverable if it were misused.",
    ),
    "verify": ("backup", "Prove a backup restores: restore it into a scratch database and check it (or --quick)."),
    "approve": ("runs", "Approve the plan of a waiting run; the run continues when enough approvals are in."),
    "reject": ("runs", "Reject the plan of a waiting run. Nothing is changed; the run ends as rejected (exit 4)."),
    "restore": ("runs", "Restore a backup into a target, through the gated workflow."),
    "daemon": ("schedule", "Run scheduled audits, backups and verifications until SIGTERM or SIGINT."),
    "report": ("report", "Re-render saved reports and compare audits."),
    "backup": ("backup", "Off-platform backups: stream databases to independent, immutable storage."),
    "runs": ("runs", "Workflow runs (restores): list them, show one, resume one after a crash."),
    "schedule": ("schedule", "Scheduled audits, backups and verifications: list them, run one now."),
    "state": ("state", "The state database: upgrade its schema to this version of Blastwall."),
}


class _Summary(TyperCommand):
    """What `blastwall --help` lists for a command whose module is not imported."""


class _LazyGroup(TyperGroup):
    """The root group: resolves a command by importing only the module that registers it."""

    _listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        if self._listing:
            return _Summary(cmd_name, help=spec[1], short_help=spec[1])
        return _load(cmd_name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


_loaded: dict[str, Any] = {}


def _load(name: str) -> Any:
    cmd = _loaded.get(name)
    if cmd is None:
        import importlib

        module = importlib.import_module(f"{__name__}.{COMMANDS[name][0]}")
        holder = typer.Typer(
            pretty_exceptions_show_locals=False,
            pretty_exceptions_enable=False,
            add_completion=False,
            rich_markup_mode="rich",
        )
        module.register(holder)
        built = typer.main.get_command(holder)
        if isinstance(built, TyperGroup):
            for sub_name, sub in built.commands.items():
                _loaded.setdefault(sub_name, sub)
        else:  # a module that registers a single command gets it back as-is
            built.name = name
            _loaded[name] = built
        cmd = _loaded[name]
    return cmd


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        sys.stdout.write(f"blastwall {__version__}\n")
        raise typer.Exit(0)


app = typer.Typer(
    name="blastwall",
    cls=_LazyGroup,
    help="Find the credentials that can destroy your data, back it up outside their blast radius, "
    "and prove the restore.\n\n" + EXIT_CODES_HELP,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # a local variable can hold a token
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show debug logs and tracebacks."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    import logging

    common = _helpers()
    common.STATE.verbose = verbose
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    common.install_redaction()


def all_commands() -> dict[str, Any]:
    """Every top-level command, loaded (for tests and documentation generators)."""
    return {name: _load(name) for name in COMMANDS}


def full_command() -> Any:
    """The root command with every subcommand loaded into `.commands` (for documentation and tests)."""
    root = typer.main.get_command(app)
    root.commands = all_commands()  # type: ignore[attr-defined]
    return root


def _helpers() -> Any:
    from . import _common as common  # rich and pydantic: only once something is printed or a command runs

    return common


def main() -> None:
    # At exit the interpreter's final collections walk every object SQLAlchemy, pydantic and Rich allocated (~0.1 s
    # after an audit). Freezing them first (gc.freeze: no collection looks at them again) ends the process without
    # that walk. The other atexit handlers still run; what must be closed is closed explicitly before (files by
    # `with`, the state database by `StateDB.dispose`). Registered once however often main() runs (tests).
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)
    # Pydantic loads every installed package that declares a `pydantic` entry point as a plugin and hands it the
    # input of each validation: code the user never asked for would see configurations and credentials (their
    # values wrapped, but reachable). Blastwall loads no such plugin; finding them also meant reading every
    # installed distribution's entry points at start-up. An explicit setting of the variable is left as it is.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    try:
        rc = app(standalone_mode=False)
        # click returns the code of a typer.Exit raised by a command instead of exiting
        sys.exit(rc if isinstance(rc, int) else 0)
    except KeyboardInterrupt:
        _helpers().err_console.print("interrupted")
        sys.exit(130)
    except BlastwallError as exc:
        _helpers().print_error(exc)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        _helpers().err_console.print("aborted")
        sys.exit(130)
    except Exception as exc:  # click usage errors and the unexpected
        # typer may ship its own copy of click: recognise its exceptions by shape
        code = getattr(exc, "exit_code", None)
        show = getattr(exc, "show", None)
        if callable(show) and isinstance(code, int):
            show()
            sys.exit(code)
        if _helpers().STATE.verbose:
            raise
        _helpers().err_console.print(f"error: unexpected {type(exc).__name__}; run with --verbose for details")
        sys.exit(1)
