"""Scratch directories (copies of production data) are removed after their creator was killed outright."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from auditor import scratch
from auditor.errors import ConfigError
from auditor.liveness import ProcessRef
from tests.backup.conftest import REPO


@pytest.fixture
def tmpdir_(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "tmp"
    d.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(d))
    monkeypatch.setenv("TMPDIR", str(d))  # named explicitly: scratch directories go there (not /var/tmp)
    monkeypatch.delenv(scratch.SCRATCH_ENV, raising=False)
    return d


def _record(pid: int, start: str, **kw: str) -> str:
    me = ProcessRef.current()
    return json.dumps({"host": me.host, "pid": pid, "start": start, "pidns": me.pidns} | kw)


def _dead(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except OSError:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


_KILLED_CREATOR = textwrap.dedent("""
    import subprocess, sys, time
    from auditor import scratch
    d = scratch.make_dir("pg")
    (d / "restored.dat").write_bytes(b"production rows")
    # a server that, unlike ours, survives its owner: started in a session of its own, without a death signal
    server = subprocess.Popen(["sleep", "600"], cwd=d, start_new_session=True)
    print(d, server.pid, flush=True)
    time.sleep(600)
""")


def test_the_next_scratch_dir_removes_a_killed_processs_dir_and_stops_what_runs_in_it(tmpdir_: Path) -> None:
    env = dict(os.environ, TMPDIR=str(tmpdir_))
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_CREATOR], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline().split()  # type: ignore[union-attr]
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert len(line) == 2, f"the child did not start: {line}"
    left_dir, server_pid = Path(line[0]), int(line[1])
    assert left_dir.parent == tmpdir_ and (left_dir / "restored.dat").exists()
    assert not _dead(server_pid, 0.2)

    mine = scratch.make_dir("verify")  # what the next verification or restore does first

    assert not left_dir.exists()
    assert _dead(server_pid), "the process running in the removed directory was not stopped"
    assert sorted(p.name for p in tmpdir_.iterdir()) == [mine.name]


def test_make_dir_is_private_and_records_its_creator(tmpdir_: Path) -> None:
    d = scratch.make_dir("restore")
    assert d.name.startswith("blastwall-scratch-restore-") and d.parent == tmpdir_
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    owner = d / scratch.OWNER
    assert stat.S_IMODE(owner.stat().st_mode) == 0o600
    rec = json.loads(owner.read_text())
    me = ProcessRef.current()
    assert rec == {"host": me.host, "pid": os.getpid(), "start": me.start, "pidns": me.pidns} and me.start


def test_reap_leaves_what_it_cannot_prove_abandoned(tmpdir_: Path) -> None:
    live = scratch.make_dir("pg")  # this process: alive
    no_record = tmpdir_ / f"{scratch.PREFIX}pg-half"
    no_record.mkdir()  # being made by someone right now, or not ours
    target = tmpdir_ / "elsewhere"
    target.mkdir()
    (target / scratch.OWNER).write_text(_record(999999999, "1"))
    link = tmpdir_ / f"{scratch.PREFIX}pg-link"
    link.symlink_to(target)
    unrelated = tmpdir_ / "blastwall-pg-old"  # not this module's prefix
    unrelated.mkdir()
    (unrelated / scratch.OWNER).write_text(_record(999999999, "1"))

    assert scratch.reap() == []
    for p in (live, no_record, target, link, unrelated):
        assert p.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="a record of another user needs root to plant")
def test_reap_leaves_a_directory_whose_record_another_user_wrote(tmpdir_: Path) -> None:
    import pwd

    d = tmpdir_ / f"{scratch.PREFIX}pg-forged"
    d.mkdir()
    (d / scratch.OWNER).write_text(_record(999999999, "1"))  # a dead creator ...
    nobody = pwd.getpwnam("nobody")
    os.chown(d / scratch.OWNER, nobody.pw_uid, nobody.pw_gid)  # ... but the record is not ours
    assert scratch.reap() == [] and d.exists()


def test_reap_removes_a_dir_whose_creator_pid_was_reused(tmpdir_: Path) -> None:
    d = tmpdir_ / f"{scratch.PREFIX}pg-reused"
    d.mkdir()
    (d / "data").mkdir()
    (d / scratch.OWNER).write_text(_record(os.getpid(), "1"))  # our pid, but a process that started at tick 1
    assert scratch.reap() == [d] and not d.exists()


def test_reap_leaves_a_dead_creators_dir_it_cannot_check(tmpdir_: Path) -> None:
    """Another host or PID namespace (a shared /tmp): its pid says nothing here."""
    other_host = tmpdir_ / f"{scratch.PREFIX}pg-host"
    other_ns = tmpdir_ / f"{scratch.PREFIX}pg-ns"
    garbled = tmpdir_ / f"{scratch.PREFIX}pg-garbled"
    for d in (other_host, other_ns, garbled):
        d.mkdir()
    (other_host / scratch.OWNER).write_text(_record(999999999, "1", host="elsewhere"))
    (other_ns / scratch.OWNER).write_text(_record(999999999, "1", pidns="4026531836999"))
    (garbled / scratch.OWNER).write_text("999999999 1\n")
    assert scratch.reap() == []
    assert other_host.exists() and other_ns.exists() and garbled.exists()


def test_reap_does_not_kill_a_shell_that_is_only_standing_in_the_directory(tmpdir_: Path) -> None:
    """Only processes without a controlling terminal (servers in sessions of their own) are stopped."""
    import fcntl
    import termios

    d = tmpdir_ / f"{scratch.PREFIX}pg-visited"
    d.mkdir()
    (d / scratch.OWNER).write_text(_record(999999999, "1"))
    master, slave = os.openpty()
    shell = subprocess.Popen(
        ["sleep", "600"],
        cwd=d,
        stdin=slave,
        start_new_session=True,
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
    )
    try:
        assert scratch.reap() == [d]
        assert shell.poll() is None, "a process with a terminal was killed"
    finally:
        shell.kill()
        shell.wait()
        os.close(master)
        os.close(slave)


# -- where scratch directories go -------------------------------------------------------------------------------


@pytest.fixture
def no_tmp_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No TMPDIR/TEMP/TMP and no BLASTWALL_SCRATCH_DIR; the disk-backed default is a directory of this test's."""
    for var in ("TMPDIR", "TEMP", "TMP", scratch.SCRATCH_ENV):
        monkeypatch.delenv(var, raising=False)
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(system_tmp))
    disk_tmp = tmp_path / "var-tmp"
    disk_tmp.mkdir()
    monkeypatch.setattr(scratch, "_DISK_TMP", disk_tmp)
    return disk_tmp


def test_by_default_scratch_data_goes_to_the_disk_backed_temporary_directory(no_tmp_env: Path) -> None:
    assert scratch.base_dir() == no_tmp_env
    d = scratch.make_dir("pg")
    assert d.parent == no_tmp_env


def test_without_a_disk_backed_directory_the_system_temporary_directory_is_used(
    no_tmp_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(scratch, "_DISK_TMP", tmp_path / "missing")
    assert scratch.base_dir() == tmp_path / "system-tmp"


def test_an_explicit_tmpdir_and_then_blastwall_scratch_dir_take_precedence(
    no_tmp_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    mine = tmp_path / "tmpdir"
    mine.mkdir()
    monkeypatch.setenv("TMPDIR", str(mine))
    monkeypatch.setattr("tempfile.tempdir", None)  # as in a process started with this TMPDIR
    assert scratch.base_dir() == mine
    big = tmp_path / "big-disk"
    big.mkdir()
    monkeypatch.setenv(scratch.SCRATCH_ENV, str(big))
    assert scratch.make_dir("verify").parent == big


def test_a_missing_blastwall_scratch_dir_is_a_clear_error(no_tmp_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(scratch.SCRATCH_ENV, str(no_tmp_env / "nope"))
    with pytest.raises(ConfigError, match="BLASTWALL_SCRATCH_DIR=.*is not a directory"):
        scratch.make_dir("pg")
    assert list(no_tmp_env.iterdir()) == []


def test_directories_left_in_the_system_temporary_directory_are_still_reaped(no_tmp_env: Path) -> None:
    # made by an earlier version (or with another TMPDIR) in the system temporary directory; its creator is gone
    old = Path(tempfile.gettempdir()) / f"{scratch.PREFIX}pg-old"
    old.mkdir()
    (old / scratch.OWNER).write_text(_record(999999999, "1"))
    scratch.make_dir("pg")
    assert not old.exists()
