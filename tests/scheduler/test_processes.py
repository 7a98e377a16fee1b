"""Real daemon processes (APScheduler + SQLAlchemy job store + claims) on one SQLite state file.

Schedules use the optional leading seconds field so a few seconds of wall time cover many slots.
"""

from __future__ import annotations

import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from .conftest import REPO

pytestmark = pytest.mark.slow


def _config(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "blastwall.toml"
    p.write_text(f'[state]\nurl = "sqlite:///{tmp_path / "state.db"}"\n[scheduler]\nheartbeat_s = 1\n' + body)
    return p


def _start(
    cfg: Path, log: Path, sleep_s: float, tmp_path: Path, name: str, *, wait: bool = True
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items()}
    env["PYTHONPATH"] = str(REPO)
    err = open(tmp_path / f"{name}.err", "wb")  # noqa: SIM115 - closed with the process
    p = subprocess.Popen(
        [sys.executable, "-m", "tests.scheduler.daemon_proc", str(cfg), str(log), str(sleep_s)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=err,
    )
    err.close()  # the child has its own descriptor
    if wait:
        _ready(p)
    return p


def _ready(p: subprocess.Popen[bytes]) -> None:
    assert p.stdout is not None
    assert p.stdout.readline().strip() == b"ready"


def _stop(p: subprocess.Popen[bytes], sig: int | None = signal.SIGTERM, timeout: float = 30) -> int:
    if sig is not None and p.poll() is None:
        p.send_signal(sig)
    try:
        return p.wait(timeout)
    finally:
        if p.stdout:
            p.stdout.close()


def _stop_all(*procs: subprocess.Popen[bytes]) -> list[int]:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    return [_stop(p, None) for p in procs]


def _lines(log: Path) -> list[tuple[str, str, str, str]]:
    if not log.exists():
        return []
    return [tuple(line.split()) for line in log.read_text().splitlines() if line.strip()]  # type: ignore[misc]


def _epoch(slot: str) -> int:
    import calendar

    return calendar.timegm(time.strptime(slot, "%Y-%m-%dT%H:%M:%SZ"))


def _db_runs(tmp_path: Path) -> list[tuple[str, str, str, str]]:
    with sqlite3.connect(tmp_path / "state.db") as c:
        return c.execute("SELECT job_id, slot, state, owner FROM scheduler_runs ORDER BY id").fetchall()


def test_two_daemon_processes_on_one_state_db_never_run_a_slot_twice(tmp_path):
    cfg = _config(
        tmp_path,
        '[[audits]]\nname = "every-second"\nschedule = "* * * * * *"\n'
        '[[audits]]\nname = "every-two"\nschedule = "*/2 * * * * *"\n',
    )
    log = tmp_path / "runs.log"
    a = _start(cfg, log, 0.3, tmp_path, "a", wait=False)
    b = _start(cfg, log, 0.3, tmp_path, "b", wait=False)  # both start (and sync the job store) together
    _ready(a)
    _ready(b)
    try:
        time.sleep(5)
    finally:
        codes = _stop_all(a, b)
    assert codes == [0, 0], (
        str(codes) + (tmp_path / "a.err").read_text()[-2000:] + (tmp_path / "b.err").read_text()[-2000:]
    )
    starts = [(job, slot) for job, slot, _pid, what in _lines(log) if what == "start"]
    dup = [k for k, n in Counter(starts).items() if n > 1]
    assert not dup, f"slots run twice: {dup}"
    per_job = Counter(job for job, _ in starts)
    assert per_job["audit:every-second"] >= 3 and per_job["audit:every-two"] >= 1, per_job
    pids = {pid for _j, _s, pid, _w in _lines(log)}
    rows = _db_runs(tmp_path)
    assert not [k for k, n in Counter((j, s) for j, s, _st, _o in rows).items() if n > 1]
    ran = [(j, s) for j, s, st, _o in rows if st == "succeeded"]
    assert sorted(ran) == sorted(starts)
    # both processes really raced for the slots (each claimed some); printed for the record
    print(f"runs per pid: {Counter(pid for _j, _s, pid, w in _lines(log) if w == 'start')}; pids {pids}")


def test_sigkilled_daemon_restarted_runs_missed_slot_once_and_records_the_interrupted_run(tmp_path):
    cfg = _config(tmp_path, '[[audits]]\nname = "tick"\nschedule = "*/2 * * * * *"\n')
    log = tmp_path / "runs.log"
    a = _start(cfg, log, 1.5, tmp_path, "a")
    # wait until a run is in progress, then kill -9 mid-run
    deadline = time.time() + 10
    while time.time() < deadline:
        lines = _lines(log)
        if lines and lines[-1][3] == "start":
            break
        time.sleep(0.05)
    _stop(a, signal.SIGKILL)
    killed_slot = _lines(log)[-1][1]
    time.sleep(4.5)  # two slots pass while no daemon runs
    b = _start(cfg, log, 0.1, tmp_path, "b")
    try:
        time.sleep(4)  # b sees at once that a's pid is gone and closes its run
    finally:
        assert _stop(b) == 0
    b_slots = sorted(_epoch(slot) for _j, slot, pid, w in _lines(log) if w == "start" and int(pid) == b.pid)
    assert len(b_slots) >= 3, (tmp_path / "b.err").read_text()[-3000:]
    killed = _epoch(killed_slot)
    # the slots missed while down (killed+2 .. first-2) did not run; b ran once for the latest of them
    assert b_slots[0] - killed >= 4, (killed_slot, b_slots)
    all_slots = {_epoch(s) for _j, s, _st, _o in _db_runs(tmp_path)}
    assert not [t for t in range(killed + 2, b_slots[0], 2) if t in all_slots], _db_runs(tmp_path)
    # and from then on every slot once, no catch-up burst
    assert [y - x for x, y in itertools.pairwise(b_slots)] == [2] * (len(b_slots) - 1)
    rows = _db_runs(tmp_path)
    assert not [k for k, n in Counter((j, s) for j, s, _st, _o in rows).items() if n > 1]
    state = {s: st for _j, s, st, _o in rows}
    assert state[killed_slot] == "interrupted"
    assert killed not in b_slots  # an interrupted slot is not silently re-run


def test_sigterm_lets_a_running_job_finish(tmp_path):
    cfg = _config(tmp_path, '[[audits]]\nname = "slow"\nschedule = "*/2 * * * * *"\n')
    log = tmp_path / "runs.log"
    a = _start(cfg, log, 2.0, tmp_path, "a")
    deadline = time.time() + 10
    while time.time() < deadline and not [x for x in _lines(log) if x[3] == "start"]:
        time.sleep(0.05)
    t0 = time.time()
    assert _stop(a) == 0
    assert time.time() - t0 >= 1.0  # it waited for the job
    lines = _lines(log)
    assert [w for *_x, w in lines].count("end") == [w for *_x, w in lines].count("start")
    rows = _db_runs(tmp_path)
    assert rows and {st for _j, _s, st, _o in rows} == {"succeeded"}


def test_sigterm_past_the_shutdown_timeout_records_the_run_interrupted(tmp_path):
    cfg = _config(tmp_path, '[[audits]]\nname = "slow"\nschedule = "*/2 * * * * *"\n')
    cfg.write_text(cfg.read_text().replace("heartbeat_s = 1\n", "heartbeat_s = 1\nshutdown_timeout_s = 1\n"))
    log = tmp_path / "runs.log"
    a = _start(cfg, log, 30.0, tmp_path, "a")
    deadline = time.time() + 10
    while time.time() < deadline and not _lines(log):
        time.sleep(0.05)
    t0 = time.time()
    assert _stop(a, signal.SIGINT) == 130
    assert time.time() - t0 < 10
    rows = _db_runs(tmp_path)
    assert [st for _j, _s, st, _o in rows] == ["interrupted"]
    with sqlite3.connect(tmp_path / "state.db") as c:
        (msg,) = c.execute("SELECT message FROM scheduler_runs").fetchone()
    assert "SIGINT" in msg


def test_two_daemon_processes_on_one_postgresql_state_db(tmp_path, pg_db):
    """The team setup: several daemons, one PostgreSQL state database (real server, real processes)."""
    url = pg_db.url.replace("postgresql://", "postgresql+psycopg://", 1)
    cfg = tmp_path / "blastwall.toml"
    cfg.write_text(
        f'[state]\nurl = "{url}"\n[scheduler]\nheartbeat_s = 1\n'
        '[[audits]]\nname = "every-second"\nschedule = "* * * * * *"\n'
    )
    log = tmp_path / "runs.log"
    a = _start(cfg, log, 0.2, tmp_path, "a", wait=False)
    b = _start(cfg, log, 0.2, tmp_path, "b", wait=False)
    _ready(a)
    _ready(b)
    try:
        time.sleep(5)
    finally:
        codes = _stop_all(a, b)
    assert codes == [0, 0], (
        str(codes) + (tmp_path / "a.err").read_text()[-2000:] + (tmp_path / "b.err").read_text()[-2000:]
    )
    starts = [(job, slot) for job, slot, _pid, what in _lines(log) if what == "start"]
    assert len(starts) >= 3
    assert not [k for k, n in Counter(starts).items() if n > 1]
    with pg_db.connect() as conn:
        rows = conn.execute("SELECT job_id, slot, count(*) FROM scheduler_runs GROUP BY job_id, slot").fetchall()
    assert rows and all(n == 1 for _j, _s, n in rows)
    assert sorted((j, s) for j, s, _n in rows) == sorted(starts)


def test_the_blastwall_daemon_command_runs_real_audits_and_stops_on_sigterm(tmp_path):
    """The shipped entry point, not the test helper: `blastwall daemon` with a real (offline) audit job."""
    project, out = tmp_path / "project", tmp_path / "reports"
    project.mkdir()
    cfg = _config(
        tmp_path,
        f'[[audits]]\nname = "often"\npaths = ["{project}"]\nformats = ["json"]\n'
        f'output_dir = "{out}"\nschedule = "*/2 * * * * *"\noffline = true\n',
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-c", "from auditor.cli import main; main()", "daemon", "--config", str(cfg)]
    with open(tmp_path / "daemon.err", "wb") as err:
        p = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.time() + 30
        while time.time() < deadline and not (out / "blastwall-report.json").exists():
            time.sleep(0.2)
        assert _stop(p) == 0, (tmp_path / "daemon.err").read_text()[-2000:]
    assert (out / "blastwall-report.json").exists()
    states = {st for _j, _s, st, _o in _db_runs(tmp_path)}
    assert states == {"succeeded"}  # a run in progress at SIGTERM was allowed to finish
