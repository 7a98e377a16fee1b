"""ScratchPostgres: own temp dir only, unprivileged when root, always stopped."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor import scratch
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


_OWNED_SERVER = """
import sys, time
from auditor.backup.engines.tools import find_binary
kind = sys.argv[1]
if kind == "postgres":
    from auditor.pgserver import ScratchPostgres
    srv = ScratchPostgres(min_major=17).start()
    where = srv.tmpdir
elif kind == "redis":
    from auditor.backup.engines.redis import ScratchRedis
    srv = ScratchRedis(find_binary(("redis-server",), package="redis-server")).start()
    where = srv.tmp
else:
    from auditor.backup.engines.mysql import ScratchMariaDB
    srv = ScratchMariaDB(find_binary(("mariadbd", "mysqld"), package="mariadb-server")).start()
    where = srv.tmp
print(where, flush=True)
time.sleep(600)
"""


def _running_in(path: Path) -> list[int]:
    """Processes whose working directory is `path` or below (a scratch server runs in its directory)."""
    real, found = os.path.realpath(path), []
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            cwd = os.readlink(f"/proc/{name}/cwd")
        except OSError:
            continue
        if cwd == real or cwd.startswith(real + os.sep):
            found.append(int(name))
    return found


@pytest.fixture
def server_tmp() -> Iterator[Path]:
    """A TMPDIR of its own that the unprivileged server user can traverse (pytest's own is 0700 root's)."""
    base = Path(tempfile.mkdtemp(prefix="bw-test-scratch-"))
    base.chmod(0o711)
    yield base
    assert base.name.startswith("bw-test-scratch-") and base.parent == Path(tempfile.gettempdir())
    shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("kind", ["postgres", "redis", "mariadb"])
def test_stopped_when_the_owner_is_killed_and_its_directory_removed_by_the_next(server_tmp: Path, kind: str) -> None:
    tmp_path = server_tmp
    env = dict(os.environ, TMPDIR=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-c", _OWNED_SERVER, kind],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().strip()
    where = Path(line)
    if not (where.is_absolute() and where.parent == tmp_path and where.name.startswith(scratch.PREFIX)):
        proc.kill()
        raise AssertionError(f"the child did not start a {kind} server: {line!r} {proc.stderr.read()[-2000:]}")
    server = _running_in(where)
    proc.kill()
    proc.wait()
    assert server, f"no {kind} server was running in {where}"
    # the server got the parent-death signal: it does not keep serving restored data
    assert all(_gone(pid, 60) for pid in server), f"the scratch {kind} server outlived its owner"
    assert where.exists()  # nobody was left to remove it ...
    assert scratch.reap(tmp_path) == [where]  # ... until the next verification or restore
    assert not where.exists()


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
