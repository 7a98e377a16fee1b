"""Is the process that owns a lease, a backup run or a daemon row still alive? One answer for all.

A row records ``host``, ``pid`` and the process start time (``/proc/<pid>/stat`` field 22, clock
ticks since boot). A pid alone is not enough: after the owner dies the kernel may hand its pid to
an unrelated process, which `kill(pid, 0)` would report as alive. The start time tells them apart.

Only a process on this host (and in this PID namespace, when one was recorded) can be checked;
for any other, `owner_gone` answers False (cannot prove it is gone) and callers fall back to
heartbeats or lease expiry.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

__all__ = ["ProcessRef", "owner_gone", "pid_namespace", "process_alive", "process_start_time", "stat_field"]


def stat_field(pid: int | str, n: int) -> str | None:
    """Field `n` (1-based, as in proc(5)) of `/proc/PID/stat`, n >= 3; None where /proc cannot tell."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        # the command name (field 2) may contain spaces and parentheses: split after the last ")"
        return stat.rsplit(")", 1)[1].split()[n - 3]
    except (OSError, IndexError):
        return None


def process_start_time(pid: int) -> str | None:
    """Start time of `pid` in clock ticks since boot (Linux); None where /proc cannot tell."""
    return stat_field(pid, 22)


def pid_namespace() -> str:
    try:
        return f"{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        return ""


def process_alive(pid: int | None, start: str | None) -> bool:
    """Whether the process `pid` that started at `start` still runs on this host.

    False when no process has that pid, or when one has it but started at another time (the pid
    was reused). With no recorded `start` (rows written by older versions) only the pid is checked.
    """
    if not pid or pid < 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    if start:
        now = process_start_time(pid)
        if now is not None and now != start:
            return False
    return True


def owner_gone(host: str | None, pid: int | None, start: str | None, pidns: str | None = None) -> bool:
    """True only when provably gone: recorded on this host (and PID namespace) and not alive."""
    if host != socket.gethostname():
        return False
    if pidns and pidns != pid_namespace():
        return False
    return not process_alive(pid, start)


@dataclass(frozen=True)
class ProcessRef:
    """Who this process is, as recorded in state rows."""

    host: str
    pid: int
    start: str | None
    pidns: str

    @classmethod
    def current(cls) -> ProcessRef:
        pid = os.getpid()
        return cls(host=socket.gethostname(), pid=pid, start=process_start_time(pid), pidns=pid_namespace())
