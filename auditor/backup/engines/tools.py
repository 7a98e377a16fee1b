"""Finding the client and server binaries of the non-PostgreSQL engines, with the Debian package to install."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ...errors import BackupError

__all__ = ["Tool", "find_binary", "version_of", "version_tuple"]

_SBIN = ("/usr/sbin", "/usr/local/sbin", "/sbin")


@dataclass(frozen=True)
class Tool:
    name: str
    path: Path
    version: str  # e.g. "10.11.19-MariaDB" or "7.0.15"
    mariadb: bool = False


def version_tuple(text: str) -> tuple[int, ...]:
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not m:
        return ()
    return tuple(int(g) for g in m.groups() if g is not None)


def find_binary(
    names: tuple[str, ...], *, package: str, configured: str | None = None, required: bool = True
) -> Path | None:
    """The first of `names` on PATH (or in an sbin directory), or the configured path.

    Missing: a `BackupError` naming the Debian package to install (when `required`), else None."""
    if configured:
        p = Path(configured).expanduser()
        for n in names:
            if p.is_dir() and (p / n).is_file():
                return p / n
        if p.is_file():
            return p
        raise BackupError(f"configured {names[0]} not found: {p}", hint="fix the configured path")
    for n in names:
        found = shutil.which(n)
        if found:
            return Path(found)
        for d in _SBIN:
            if os.access(os.path.join(d, n), os.X_OK):
                return Path(d) / n
    if not required:
        return None
    raise BackupError(
        f"{names[0]} is not installed (looked for {', '.join(names)} on PATH)",
        hint=f"install it: `apt-get install {package}` (Debian/Ubuntu), or put it on PATH",
    )


def version_of(path: Path, *, flag: str = "--version") -> str:
    try:
        out = subprocess.run([str(path), flag], capture_output=True, text=True, timeout=20, check=False)
    except OSError as exc:
        raise BackupError(f"cannot run {path}: {exc.strerror}") from exc
    return (out.stdout or out.stderr).strip()
