"""Shared bits for test servers started from Debian packages: a temp dir owned by an unprivileged user when
the tests run as root (`nobody`, as `auditor.pgserver` does), a free loopback port, and a clean stop."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["ServerDir", "free_port", "wait_for"]

UNPRIVILEGED = "nobody"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    proc: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            break
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-1500:] if log and log.exists() else ""
    raise RuntimeError(f"{what} did not start: {tail}")


class ServerDir:
    """A temporary directory for one server, owned by `nobody` when we are root."""

    def __init__(self, prefix: str) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=prefix))
        self.as_root = os.geteuid() == 0
        if self.as_root:
            pw = pwd.getpwnam(UNPRIVILEGED)
            self.uid, self.gid = pw.pw_uid, pw.pw_gid
            os.chmod(self.path, 0o700)
            os.chown(self.path, self.uid, self.gid)

    def argv(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", UNPRIVILEGED, "--", *argv] if self.as_root else argv

    def mkdir(self, name: str) -> Path:
        p = self.path / name
        p.mkdir()
        if self.as_root:
            os.chown(p, self.uid, self.gid)
        return p

    def popen(self, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        with open(log, "ab") as out:
            return subprocess.Popen(
                self.argv(argv), stdout=out, stderr=subprocess.STDOUT, cwd=self.path, start_new_session=True
            )

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def stop(proc: subprocess.Popen[bytes] | None, pid_file: Path | None = None) -> None:
    if proc is None or proc.poll() is not None:
        return
    pid = None
    if pid_file is not None:
        with contextlib.suppress(OSError, ValueError):
            pid = int(pid_file.read_text().split()[0])
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGTERM) if pid else os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
