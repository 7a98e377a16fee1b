"""ScratchPostgres: own temp dir only, unprivileged when root, always stopped."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from auditor.pgserver import ScratchPostgres
from tests.backup.conftest import REPO

pytestmark = pytest.mark.slow


def _uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError


def _gone(pid: int, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            if Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z":
                return True
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_lifecycle_unprivileged_and_cleaned_up():
    with ScratchPostgres(min_major=17) as pg:
        tmp = pg.tmpdir
        pid = pg._postmaster_pid()
        assert pid and tmp is not None and pg.data_dir.is_relative_to(tmp)
        if os.geteuid() == 0:
            import pwd

            assert _uid(pid) == pwd.getpwnam("nobody").pw_uid  # dropped privileges
        with pg.connect() as conn:
            assert conn.execute("show listen_addresses").fetchone()[0] == "127.0.0.1"
            assert conn.execute("show data_directory").fetchone()[0].startswith(str(tmp))
    assert not tmp.exists() and _gone(pid)


def test_stopped_on_exception():
    with pytest.raises(RuntimeError), ScratchPostgres(min_major=17) as pg:
        pid = pg._postmaster_pid()
        tmp = pg.tmpdir
        raise RuntimeError("boom")
    assert _gone(pid) and not tmp.exists()


def test_stopped_when_the_owner_is_killed():
    code = ("import time; from auditor.pgserver import ScratchPostgres\n"
            "pg = ScratchPostgres(min_major=17).start()\n"
            "print(pg._postmaster_pid(), pg.tmpdir, flush=True); time.sleep(600)")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True)
    pid_s, tmp = proc.stdout.readline().split()
    proc.kill()
    proc.wait()
    try:
        assert _gone(int(pid_s), 30), "the scratch server outlived its owner"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # nobody is left to remove it after kill -9
