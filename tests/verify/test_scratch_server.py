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
    code = (
        "import time; from auditor.pgserver import ScratchPostgres\n"
        "pg = ScratchPostgres(min_major=17).start()\n"
        "print(pg._postmaster_pid(), pg.tmpdir, flush=True); time.sleep(600)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True)
    pid_s, tmp = proc.stdout.readline().split()
    proc.kill()
    proc.wait()
    try:
        assert _gone(int(pid_s), 30), "the scratch server outlived its owner"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # nobody is left to remove it after kill -9


_BARE_PATH_CHILD = """
import os, sys
from pathlib import Path
from auditor.pgserver import ScratchPostgres
with ScratchPostgres(min_major=17) as pg:
    pid = pg._postmaster_pid()
    status = dict(l.split(":", 1) for l in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in l)
    with pg.connect() as conn:
        one = conn.execute("select 1").fetchone()[0]
    print(status["Uid"].split()[0], status["Gid"].split()[0], repr(status["Groups"].strip()), one)
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping to an unprivileged user happens only when run as root")
def test_starts_as_root_under_a_bare_path_without_runuser(tmp_path: Path) -> None:
    """cron and many service managers give a job PATH=/usr/bin:/bin (no /usr/sbin, where runuser lives)."""
    import pwd

    nobody = pwd.getpwnam("nobody")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")} | {"PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", _BARE_PATH_CHILD], capture_output=True, text=True, env=env, cwd=REPO, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    uid, gid, groups, one = out.stdout.split()
    assert (int(uid), int(gid), groups, one) == (nobody.pw_uid, nobody.pw_gid, "''", "1")  # no root groups kept
