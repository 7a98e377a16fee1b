"""Small I/O helpers shared by the backup runner and the verifier."""

from __future__ import annotations

import contextlib
from typing import IO

__all__ = ["grow_pipe"]


def grow_pipe(f: IO[bytes]) -> None:
    """1 MiB pipe buffer instead of 64 KiB: far fewer context switches with the child (Linux only)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        import fcntl

        fcntl.fcntl(f.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
