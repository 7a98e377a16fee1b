"""A day of schedules in well under a second: the daemon's due-job step driven by a manual clock.

The same job store, claim table and engine as the real daemon; only the clock is injected
(`Daemon.tick` / `run_until` do APScheduler's due-job step at the clock's time).
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from auditor.scheduler import Daemon, JobResult, ManualClock
from auditor.state import StateDB

DAY = datetime(2026, 3, 10, 0, 0, 0, tzinfo=UTC)  # a Tuesday, no DST change in UTC or Berlin

MIXED = """
[[audits]]
name = "quarter"
schedule = "*/15 * * * *"

[[audits]]
name = "hourly"
schedule = "0 * * * *"

[[audits]]
name = "daily"
schedule = "0 13 * * *"

[[audits]]
name = "berlin"
schedule = "30 2 * * *"
timezone = "Europe/Berlin"
"""


def _z(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def expected_slots(start: datetime, end: datetime) -> dict[str, list[str]]:
    """Independent of cron parsing: plain arithmetic over the day (start < slot <= end)."""
    out: dict[str, list[str]] = {"audit:quarter": [], "audit:hourly": [], "audit:daily": [], "audit:berlin": []}
    t = start.replace(minute=0, second=0)
    while t <= end:
        if t > start:
            out["audit:quarter"].append(_z(t))
            if t.minute == 0:
                out["audit:hourly"].append(_z(t))
            if t.hour == 13 and t.minute == 0:
                out["audit:daily"].append(_z(t))
            if t.hour == 1 and t.minute == 30:  # 02:30 CET = 01:30 UTC in March before DST
                out["audit:berlin"].append(_z(t))
        t += timedelta(minutes=15)
    return out


def _db(tmp_path: Path) -> StateDB:
    return StateDB(f"sqlite:///{tmp_path / 'state.db'}")


def test_24h_of_mixed_schedules_runs_every_slot_exactly_once(tmp_path, make_config, recorder):
    cfg = make_config(MIXED)
    clock = ManualClock(DAY + timedelta(seconds=1))
    d = Daemon(cfg, db=_db(tmp_path), runner=recorder.runner(), clock=clock)
    d.run_until(DAY + timedelta(days=1))
    d.close()

    expected = expected_slots(DAY + timedelta(seconds=1), DAY + timedelta(days=1))
    assert sum(map(len, expected.values())) == 96 + 24 + 1 + 1
    for job, slots in expected.items():
        assert recorder.slots(job) == slots, job
    assert not [k for k, n in Counter(recorder.runs).items() if n > 1]
    # and the claim table agrees: one run row per slot, all succeeded
    rows = d.engine.store.runs()
    assert len(rows) == len(recorder.runs)
    assert {r.state for r in rows} == {"succeeded"}


def test_daemon_killed_mid_day_and_restarted_runs_each_missed_job_once(tmp_path, make_config, recorder):
    cfg = make_config(MIXED)
    db = _db(tmp_path)
    clock = ManualClock(DAY + timedelta(seconds=1))
    first = Daemon(cfg, db=db, runner=recorder.runner(), clock=clock)
    crash = DAY + timedelta(hours=10, minutes=7)
    first.run_until(crash)
    # killed: no close(), no more heartbeats. Four hours later a new daemon starts on the same state DB.
    restart = DAY + timedelta(hours=14, minutes=40, seconds=5)
    clock.set(restart)
    second = Daemon(cfg, db=db, runner=recorder.runner(), clock=clock)
    second.run_until(DAY + timedelta(days=1))
    second.close()

    exp = expected_slots(DAY + timedelta(seconds=1), DAY + timedelta(days=1))
    for job, slots in exp.items():
        before = [s for s in slots if s <= _z(crash)]
        down = [s for s in slots if _z(crash) < s <= _z(restart)]
        after = [s for s in slots if s > _z(restart)]
        want = before + down[-1:] + after  # the missed ones: once, for the latest slot
        assert recorder.slots(job) == want, job
    # what happened while down, concretely: 16 quarter slots, 4 hourly slots and the 13:00 daily -> one run each
    assert recorder.slots("audit:daily") == ["2026-03-10T13:00:00Z"]
    assert "2026-03-10T14:30:00Z" in recorder.slots("audit:quarter")
    assert "2026-03-10T14:15:00Z" not in recorder.slots("audit:quarter")
    assert not [k for k, n in Counter(recorder.runs).items() if n > 1]


def test_a_run_in_progress_when_the_daemon_died_is_recorded_interrupted(tmp_path, make_config, recorder):
    cfg = make_config(
        '[[backups]]\nsource = "db"\nstore = "s"\nschedule = "0 * * * *"\n'
        '[[sources]]\nname = "db"\nurl = "env:DB_URL"\n[[stores]]\nname = "s"\nkind = "local"\npath = "x"\n'
    )
    db = _db(tmp_path)
    clock = ManualClock(DAY + timedelta(minutes=59, seconds=59))
    dead = Daemon(cfg, db=db, runner=recorder.runner(), clock=clock)
    dead.open()
    claim = dead.engine.store.claim("backup:db", "2026-03-10T01:00:00Z", dead.owner, clock.now())
    dead.engine.store.start(claim.run_id, clock.now())  # ... and then the process was SIGKILLed
    clock.advance(timedelta(minutes=5))
    alive = Daemon(cfg, db=db, runner=recorder.runner(), clock=clock)
    alive.open()  # its first heartbeat reaps runs of daemons that stopped heart-beating
    (row,) = alive.engine.store.runs("backup:db")
    assert row.state == "interrupted" and dead.owner in (row.message or "")
    assert alive.engine.store.statuses()["backup:db"].outcome == "interrupted"
    alive.close()


def test_two_daemons_ticking_the_same_warped_day_never_share_a_slot(tmp_path, make_config, recorder):
    cfg = make_config(MIXED)
    db = _db(tmp_path)
    clock = ManualClock(DAY + timedelta(seconds=1))
    a = Daemon(cfg, db=db, runner=recorder.runner(), clock=clock)
    b = Daemon(cfg, db=StateDB(db.url), runner=recorder.runner(), clock=clock)
    a.open()
    b.open()
    end = DAY + timedelta(days=1)
    while True:
        t = a.next_wakeup()
        if t is None or t > end:
            break
        clock.set(max(t, clock.now()))
        # both see the job as due at the same instant; b ticks first half the time
        first, second = (a, b) if t.minute % 30 else (b, a)
        reports = first.tick() + second.tick()
        assert all(r.status in ("succeeded", "taken") for r in reports)
    assert len(recorder.runs) == 122
    assert not [k for k, n in Counter(recorder.runs).items() if n > 1]
    owners = Counter(r.owner for r in a.engine.store.runs())
    assert set(owners) == {a.owner, b.owner}


def test_misfire_grace_turns_a_too_late_slot_into_missed(tmp_path, make_config, recorder, webhook, monkeypatch):
    monkeypatch.setenv("HOOK_URL", webhook.url)
    cfg = make_config(
        '[scheduler]\nmisfire_grace_s = 600\n[notifications]\nwebhook_url = "env:HOOK_URL"\n'
        '[[audits]]\nname = "daily"\nschedule = "0 13 * * *"\n'
    )
    db = _db(tmp_path)
    clock = ManualClock(DAY + timedelta(hours=12))
    d = Daemon(cfg, db=db, runner=recorder.runner(), clock=clock)
    d.open()
    d.close()
    clock.set(DAY + timedelta(hours=15))  # down across 13:00, back two hours later
    d2 = Daemon(cfg, db=db, runner=recorder.runner(), clock=clock)
    reports = d2.tick()
    assert [r.status for r in reports] == ["missed"]
    assert recorder.runs == []
    assert d2.engine.store.statuses()["audit:daily"].outcome == "missed"
    assert any("missed" in t and "audit:daily" in t for t in webhook.texts())
    d2.close()


def test_jitter_is_a_deterministic_delay_after_the_slot(tmp_path, make_config):
    cfg = make_config('[[audits]]\nname = "j"\nschedule = "0 * * * *"\njitter_s = 300\n')
    started: list[tuple[str, datetime]] = []
    clock = ManualClock(DAY + timedelta(seconds=1))

    def job(spec, ctx):
        started.append((ctx.slot, ctx.now))
        return JobResult("succeeded")

    from auditor.scheduler import JobRunner

    d = Daemon(cfg, db=_db(tmp_path), runner=JobRunner(audit=job), clock=clock)
    d.run_until(DAY + timedelta(hours=6))
    d.close()
    assert len(started) == 6
    delays = [
        (now - datetime.strptime(slot, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)).total_seconds()
        for slot, now in started
    ]
    assert all(0 <= x <= 300 for x in delays)
    assert len(set(delays)) > 1  # spread, not a constant offset
    from auditor.scheduler.specs import jitter_delay

    slot0 = DAY + timedelta(hours=1)
    assert jitter_delay("audit:j", slot0, 300) == jitter_delay("audit:j", slot0, 300)  # same on every daemon
    assert delays[0] == jitter_delay("audit:j", slot0, 300).total_seconds()


def test_a_job_still_running_elsewhere_is_not_started_twice(tmp_path, make_config):
    """max one instance per job across daemons: the next slot is skipped while a live daemon still runs it."""
    cfg = make_config('[[audits]]\nname = "slow"\nschedule = "*/15 * * * *"\n')
    db = _db(tmp_path)
    clock = ManualClock(DAY + timedelta(minutes=14, seconds=59))
    release = threading.Event()
    entered = threading.Event()

    def slow(spec, ctx):
        entered.set()
        release.wait(10)
        return JobResult("succeeded")

    from auditor.scheduler import JobRunner

    a = Daemon(cfg, db=db, runner=JobRunner(audit=slow), clock=clock)
    b = Daemon(cfg, db=StateDB(db.url), runner=JobRunner(audit=slow), clock=clock)
    a.open()
    b.open()
    clock.set(DAY + timedelta(minutes=15))
    t = threading.Thread(target=a.tick)
    t.start()
    assert entered.wait(5)
    clock.set(DAY + timedelta(minutes=30))
    a.engine.heartbeat()  # a is alive (its real loop heart-beats every heartbeat_s)
    reports = b.tick()
    assert [r.status for r in reports] == ["busy"]
    release.set()
    t.join(5)
    states = [(r.slot, r.state) for r in a.engine.store.runs()]
    assert states == [("2026-03-10T00:15:00Z", "succeeded"), ("2026-03-10T00:30:00Z", "skipped")]
    a.close()
    b.close()


@pytest.mark.parametrize(
    "expr,when,fires",
    [
        ("0 3 * * 0", datetime(2026, 3, 15, 3, 0, tzinfo=UTC), True),  # crontab 0 = Sunday (15 March 2026)
        ("0 3 * * 0", datetime(2026, 3, 16, 3, 0, tzinfo=UTC), False),  # ...not Monday (APScheduler's own 0)
        ("0 3 * * 7", datetime(2026, 3, 15, 3, 0, tzinfo=UTC), True),
        ("0 3 * * 1-5", datetime(2026, 3, 13, 3, 0, tzinfo=UTC), True),  # Friday
        ("0 3 * * 1-5", datetime(2026, 3, 14, 3, 0, tzinfo=UTC), False),  # Saturday
        ("0 3 * * */2", datetime(2026, 3, 17, 3, 0, tzinfo=UTC), True),  # Tue = 2
        ("*/20 * * * * *", datetime(2026, 3, 17, 3, 0, 40, tzinfo=UTC), True),  # leading seconds field
    ],
)
def test_cron_expressions_follow_crontab(expr, when, fires):
    from auditor.cron import cron_trigger

    t = cron_trigger(expr, "UTC")
    nxt = t.get_next_fire_time(None, when - timedelta(microseconds=1))
    assert (nxt == when) is fires


def test_bad_cron_in_config_names_file_line_and_key(make_config):
    from auditor.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        make_config('[[audits]]\nname = "x"\nschedule = "61 * * * *"\n')
    assert "blastwall.toml:3" in str(e.value) and "audits[0].schedule" in str(e.value)


def test_config_changes_reschedule_and_removed_jobs_leave_the_job_store(tmp_path, make_config, recorder):
    db = _db(tmp_path)
    clock = ManualClock(DAY + timedelta(hours=1, seconds=1))
    cfg1 = make_config(MIXED)
    a = Daemon(cfg1, db=db, runner=recorder.runner(), clock=clock)
    a.open()
    a.close()
    clock.set(DAY + timedelta(hours=5))  # down for four hours, then restarted with a new config:
    cfg2 = make_config(
        '[[audits]]\nname = "quarter"\nschedule = "*/30 * * * *"\n'  # changed
        '[[audits]]\nname = "hourly"\nschedule = "0 * * * *"\n'
    )  # unchanged; daily+berlin gone
    b = Daemon(cfg2, db=db, runner=recorder.runner(), clock=clock)
    b.open()
    stored = {j.id: j.next_run_time for j in b.jobstore.get_all_jobs()}
    assert set(stored) == {"audit:quarter", "audit:hourly"}
    assert stored["audit:quarter"] == DAY + timedelta(hours=5)  # rescheduled from now: no catch-up
    assert stored["audit:hourly"] == DAY + timedelta(hours=2)  # kept: the missed slots are still due
    reports = b.tick()
    assert sorted((r.job_id, r.slot) for r in reports) == [
        ("audit:hourly", "2026-03-10T05:00:00Z"),
        ("audit:quarter", "2026-03-10T05:00:00Z"),
    ]
    b.close()
