"""The `blastwall` command line: a thin layer over the library.

Commands parse arguments, call the core, render, and map outcomes to exit codes:
  0 ok · 1 error · 2 usage · 3 findings at or above --fail-on · 4 approval pending or rejected · 130 interrupted
"""

from __future__ import annotations

import logging
import sys

import typer

from ..errors import BlastwallError
from . import _common

__all__ = ["app", "main"]

EXIT_CODES_HELP = (
    "Exit codes: 0 ok, 1 error, 2 usage, 3 problems found (findings at or above --fail-on, a deletable "
    "store, a failed verification, unhealthy), 4 approval pending or rejected, 130 interrupted."
)

app = typer.Typer(
    name="blastwall",
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
) -> None:
    _common.STATE.verbose = verbose
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    _common.install_redaction()


def _register() -> None:
    from . import audit, backup, report, runs, schedule

    for mod in (audit, report, backup, runs, schedule):
        mod.register(app)


_register()


def main() -> None:
    try:
        rc = app(standalone_mode=False)
        # click returns the code of a typer.Exit raised by a command instead of exiting
        sys.exit(rc if isinstance(rc, int) else 0)
    except KeyboardInterrupt:
        _common.err_console.print("interrupted")
        sys.exit(130)
    except BlastwallError as exc:
        _common.print_error(exc)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        _common.err_console.print("aborted")
        sys.exit(130)
    except Exception as exc:  # click usage errors and the unexpected
        # typer may ship its own copy of click: recognise its exceptions by shape
        code = getattr(exc, "exit_code", None)
        show = getattr(exc, "show", None)
        if callable(show) and isinstance(code, int):
            show()
            sys.exit(code)
        if _common.STATE.verbose:
            raise
        _common.err_console.print(f"error: unexpected {type(exc).__name__}; run with --verbose for details")
        sys.exit(1)
