"""Shared CLI helpers: consoles, error printing, log redaction."""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.text import Text

from ..errors import BlastwallError
from ..redact import Redactor

__all__ = ["STATE", "console", "err_console", "print_error", "print_json", "install_redaction"]


@dataclass
class _State:
    verbose: bool = False


STATE = _State()
# No markup and no highlighting: hints, paths and commands hold brackets (`pip install 'blastwall[pg]'`) that
# Rich would swallow as style tags. Styled output is built explicitly with `rich.text.Text`. Soft wrap: a long
# path or command is never broken by an inserted newline, so it can be copied as printed.
console = Console(markup=False, highlight=False, soft_wrap=True)  # stdout: results
err_console = Console(stderr=True, markup=False, highlight=False, soft_wrap=True)  # stderr: progress, messages


def print_error(exc: BlastwallError) -> None:
    err_console.print(Text.assemble(("error:", "bold red"), " ", Redactor.global_().redact(exc.message)))
    if exc.hint:
        err_console.print(Text.assemble(("hint:", "dim"), " ", Redactor.global_().redact(exc.hint)))
    if STATE.verbose:
        err_console.print_exception(show_locals=False)


def print_json(doc: Any) -> None:
    """One JSON document on stdout, nothing else there."""
    sys.stdout.write(json.dumps(doc, indent=2, default=str, sort_keys=False) + "\n")
    sys.stdout.flush()


def install_redaction() -> None:
    """Every log record passes through the global redactor (secrets discovered at run time)."""
    root = logging.getLogger()
    if not any(isinstance(f, _RedactFilter) for f in root.filters):
        root.addFilter(_RedactFilter())
        for h in root.handlers:
            h.addFilter(_RedactFilter())


class _RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        r = Redactor.global_()
        record.msg = r.redact(record.getMessage())
        record.args = None
        return True
