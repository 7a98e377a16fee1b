"""Temporary directories that hold copies of production data, and their removal after a crash.

A verification or a restore puts production data in a temporary directory: a scratch server's data directory,
a fetched dump, a safety copy. The process removes it when it ends, also on errors and Ctrl-C, and stops the
scratch server it started there. A process killed outright (`kill -9`, the OOM killer) can do neither, and the
data would stay readable in the temporary directory, a server still serving it.

Where: `base_dir()` — `$BLASTWALL_SCRATCH_DIR`, else the temporary directory when `TMPDIR` (or `TEMP`, `TMP`)
names one, else `/var/tmp`. Not `/tmp` by default: on many systems (Fedora, Arch, Debian 13) it is a RAM-backed
tmpfs of half the memory, and a restored database takes about as much room as its source.

So every such directory is made by `make_dir`, which records its creator (host, PID namespace, pid and process
start time, as `auditor.liveness` checks them) in a file of this user's inside it, and first removes the
directories whose creator has provably gone (`reap`): the processes still running inside one (a scratch
server, whose working directory it is) are killed first.
Only directories with this module's prefix, not symbolic links, whose owner record belongs to this user are
touched; one without a readable record is left alone (it may be another user's, or half made).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import shutil
import signal
import stat
import tempfile
import time
from pathlib import Path
from typing import Any

from .errors import ConfigError, VerificationError
from .liveness import ProcessRef, owner_gone, stat_field

__all__ = ["OWNER", "PREFIX", "SCRATCH_ENV", "base_dir", "make_dir", "out_of_space", "parent_death_signal", "reap"]

log = logging.getLogger(__name__)

PREFIX = "blastwall-scratch-"
OWNER = ".blastwall-owner"
SCRATCH_ENV = "BLASTWALL_SCRATCH_DIR"
_DISK_TMP = Path("/var/tmp")


def base_dir() -> Path:
    """The directory scratch directories are made in (see the module docstring for the order)."""
    configured = os.environ.get(SCRATCH_ENV)
    if configured:
        path = Path(configured).expanduser()
        if not path.is_dir():
            raise ConfigError(
                f"{SCRATCH_ENV}={configured} is not a directory",
                hint="create it (on a disk with room for a restored database) or unset the variable",
            )
        return path
    if any(os.environ.get(v) for v in ("TMPDIR", "TEMP", "TMP")):
        return Path(tempfile.gettempdir())
    if _DISK_TMP.is_dir() and os.access(_DISK_TMP, os.W_OK | os.X_OK):
        return _DISK_TMP
    return Path(tempfile.gettempdir())


def parent_death_signal() -> None:
    """For `subprocess.Popen(preexec_fn=...)`: the child gets SIGTERM when the thread that started it ends,
    including when this process is killed outright (Linux `PR_SET_PDEATHSIG`; elsewhere nothing)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def out_of_space(where: Path | str) -> VerificationError:
    """The error for a restore into a scratch server whose disk (at `where`) filled up: not a verdict on the backup."""
    return VerificationError(
        f"the scratch database ran out of disk space in {where} during the restore: the backup was not verified "
        "(this says nothing about the backup itself)",
        hint=f"free space there, or point {SCRATCH_ENV} at a directory on a disk with room for the restored "
        "database (about the size of its source)",
    )


def make_dir(kind: str) -> Path:
    """A new 0700 directory `blastwall-scratch-KIND-…` in `base_dir()`, recording its creator.
    Removes the directories of creators that have gone first (there, and in the temporary directory, where
    earlier versions made them)."""
    base, system_tmp = base_dir(), Path(tempfile.gettempdir())
    reap(base)
    if system_tmp != base:
        reap(system_tmp)
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{kind}-", dir=base))
    me = ProcessRef.current()
    fd = os.open(path / OWNER, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"host": me.host, "pid": me.pid, "start": me.start, "pidns": me.pidns}, f)
    return path


def reap(root: Path | None = None) -> list[Path]:
    """Remove the scratch directories directly under `root` (default: `base_dir()`) whose creator is no longer
    running, killing what still runs inside them first. Returns what was removed."""
    base = Path(root) if root is not None else base_dir()
    removed: list[Path] = []
    try:
        entries = [e for e in os.scandir(base) if e.name.startswith(PREFIX)]
    except OSError:
        return removed
    for entry in entries:
        if not entry.is_dir(follow_symlinks=False):
            continue
        path = Path(entry.path)
        creator = _creator(path)
        if creator is None or not owner_gone(**creator):
            continue
        killed = _kill_inside(path)
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            removed.append(path)
            log.warning(
                "removed %s, left with its data by Blastwall process %d, which ended without cleaning up%s",
                path,
                creator["pid"],
                f" (stopped {len(killed)} process(es) still running in it)" if killed else "",
            )
    return removed


def _creator(path: Path) -> dict[str, Any] | None:
    """The creator recorded in `path`, if the record is a regular file of this user's and well formed."""
    owner = path / OWNER
    try:
        st = os.lstat(owner)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
            return None
        rec = json.loads(owner.read_text())
        if not (
            isinstance(rec["pid"], int) and all(isinstance(rec[k], str | None) for k in ("host", "start", "pidns"))
        ):
            return None
        return {k: rec[k] for k in ("host", "pid", "start", "pidns")}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _detached(pid: str) -> bool:
    """Whether `pid` has no controlling terminal (a server started in a session of its own, not someone's
    shell that happens to be in the directory)."""
    return stat_field(pid, 7) == "0"  # tty_nr


def _kill_inside(path: Path) -> list[int]:
    """SIGKILL every process without a terminal whose working directory is `path` or below it (a scratch
    server); the data is being thrown away, so no clean shutdown. Waits up to 5 s for them to go."""
    real = os.path.realpath(path)
    pids: list[int] = []
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == os.getpid():
                continue
            try:
                cwd = os.readlink(f"/proc/{name}/cwd")
            except OSError:
                continue
            if (cwd == real or cwd.startswith(real + os.sep)) and _detached(name):
                with contextlib.suppress(OSError):
                    os.kill(int(name), signal.SIGKILL)
                    pids.append(int(name))
    deadline = time.monotonic() + 5
    while pids and time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}/cwd") for p in pids):
        time.sleep(0.05)
    return pids
