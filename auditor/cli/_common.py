"""Shared CLI helpers: consoles, error printing, log redaction."""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from ..errors import BlastwallError
from ..redact import Redactor

__all__ = ["STATE", "console", "err_console", "print_error", "print_json", "install_redaction"]


@dataclass
class _State:
    verbose: bool = False


STATE = _State()
console = Console()  # stdout: results
err_console = Console(stderr=True)  # stderr: progress, messages


def print_error(exc: BlastwallError) -> None:
    err_console.print(f"[bold red]error:[/] {Redactor.global_().redact(exc.message)}", highlight=False)
    if exc.hint:
        err_console.print(f"[dim]hint:[/] {exc.hint}", highlight=False)
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
