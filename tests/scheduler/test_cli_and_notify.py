"""`schedule list` / `run-now` / `daemon --healthcheck`, the JSON schema, and notifications."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from auditor.cli import app
from auditor.config import load_config
from auditor.scheduler import Daemon, JobResult, ManualClock
from auditor.scheduler.jobs import CriticalFinding
from auditor.state import StateDB

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "schemas" / "schedule-list.json").read_text())

CONFIG = """
[[sources]]
name = "maindb"
url = "env:SRC_URL"

[[stores]]
name = "local"
kind = "local"
path = "store"

[[backups]]
source = "maindb"
store = "local"
schedule = "0 3 * * *"
timezone = "Europe/Berlin"

[[verifications]]
source = "maindb"
schedule = "0 5 * * 0"

[[audits]]
name = "nightly"
paths = ["."]
schedule = "*/15 * * * *"

[[audits]]
name = "adhoc"
paths = ["."]
"""


@pytest.fixture
def cfg_path(tmp_path: Path) -> Path:
    p = tmp_path / "blastwall.toml"
    p.write_text(CONFIG)
    return p


def _invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args))


def test_schedule_list_json_matches_the_schema_before_and_after_runs(cfg_path, recorder):
    res = _invoke("schedule", "list", "--config", str(cfg_path), "--json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    jsonschema.validate(rows, SCHEMA)
    assert [(r["job"], r["kind"]) for r in rows] == [
        ("audit:nightly", "audit"),
        ("audit:adhoc", "audit"),
        ("backup:maindb", "backup"),
        ("verification:maindb", "verification"),
    ]
    assert all(r["last_run"] is None for r in rows)
    adhoc = rows[1]
    assert adhoc["schedule"] is None and adhoc["next_run"] is None
    backup = rows[2]
    assert backup["timezone"] == "Europe/Berlin" and backup["next_run"].endswith(("01:00:00Z", "02:00:00Z"))

    cfg = load_config(cfg_path)
    calls = iter([JobResult("succeeded", "fine"), JobResult("failed", "disk full")])
    recorder.outcome = lambda spec, ctx: next(calls)
    clock = ManualClock(datetime(2026, 3, 10, 0, 0, 1, tzinfo=UTC))
    d = Daemon(cfg, db=StateDB(), runner=recorder.runner(), clock=clock)
    d.run_until(datetime(2026, 3, 10, 0, 30, tzinfo=UTC))
    d.close()
    res = _invoke("schedule", "list", "--config", str(cfg_path), "--json")
    rows = json.loads(res.stdout)
    jsonschema.validate(rows, SCHEMA)
    nightly = rows[0]
    assert nightly["last_run"] == {"at": "2026-03-10T00:30:00Z", "outcome": "failed", "message": "disk full"}
    assert nightly["next_run"] == "2026-03-10T00:45:00Z"  # from the job store


def test_run_now_runs_and_records_a_manual_run(cfg_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = _invoke("schedule", "run-now", "audit:nosuch", "--config", str(cfg_path))
    assert res.exit_code == 1
    assert "no job named 'audit:nosuch'" in str(res.exception)  # main() prints it with its hint
    # a manual backup of an unreachable source: fails cleanly, recorded, exit 1
    monkeypatch.setenv("SRC_URL", "postgresql://u:pw@127.0.0.1:1/db")
    res = _invoke("schedule", "run-now", "backup:maindb", "--config", str(cfg_path), "--json")
    assert res.exit_code == 1
    doc = json.loads(res.stdout)
    assert doc["job"] == "backup:maindb" and doc["outcome"] == "failed" and ":pw@" not in doc["message"]
    rows = json.loads(_invoke("schedule", "list", "--config", str(cfg_path), "--json").stdout)
    assert {r["job"]: r["last_run"]["outcome"] if r["last_run"] else None for r in rows}["backup:maindb"] == "failed"


def test_healthcheck_healthy_overdue_and_failed(tmp_path, recorder):
    p = tmp_path / "blastwall.toml"
    p.write_text('[[audits]]\nname = "h"\nschedule = "0 * * * *"\n[scheduler]\noverdue_after_s = 600\n')
    cfg = load_config(p)
    db = StateDB()
    now = datetime.now(UTC).replace(microsecond=0)
    # a daemon that started 2 h ago and ran every slot: healthy while it heart-beats
    clock = ManualClock(now - timedelta(hours=2))
    d = Daemon(cfg, db=db, runner=recorder.runner(), clock=clock)
    d.run_until(now)
    res = _invoke("daemon", "--config", str(p), "--healthcheck")
    assert res.exit_code == 0, res.output
    assert "healthy" in res.stdout

    from auditor.scheduler.health import health_problems

    # the daemon hangs: no run for the next slot, 20 minutes later it is overdue
    later = now.replace(minute=0, second=0) + timedelta(hours=1, minutes=20)
    clock.set(later)
    d.engine.heartbeat()
    problems = [str(x) for x in health_problems(cfg, db, later)]
    assert len(problems) == 1 and problems[0].startswith("audit:h: overdue: slot ")

    # the slot runs and fails: unhealthy for that reason instead
    recorder.outcome = lambda spec, ctx: JobResult("failed", "boom")
    d.tick(later)
    problems = [str(x) for x in health_problems(cfg, db, later)]
    assert problems == [f"audit:h: last run failed at {later.strftime('%Y-%m-%dT%H:%M:%SZ')}: boom"]
    d.close()
    # and with every daemon stopped, that is reported too
    assert any("no daemon has sent a heartbeat" in str(x) for x in health_problems(cfg, db, later))


def test_daemon_without_scheduled_jobs_is_a_config_error(tmp_path):
    p = tmp_path / "blastwall.toml"
    p.write_text('[[audits]]\nname = "manual"\n')
    res = _invoke("daemon", "--config", str(p))
    assert res.exit_code == 1
    assert "no scheduled jobs" in str(res.exception)


def test_help_has_examples():
    for args in (["daemon", "--help"], ["schedule", "list", "--help"], ["schedule", "run-now", "--help"]):
        res = _invoke(*args)
        assert res.exit_code == 0 and "Examples" in res.stdout, args


def test_new_critical_findings_are_notified_once(tmp_path, make_config, recorder, webhook, monkeypatch):
    monkeypatch.setenv("HOOK_URL", webhook.url)
    cfg = make_config('[notifications]\nwebhook_url = "env:HOOK_URL"\n[[audits]]\nname = "a"\nschedule = "0 * * * *"\n')
    found = [
        [CriticalFinding("f1", "root-token: railway:abc")],
        [CriticalFinding("f1", "root-token: railway:abc")],
        [CriticalFinding("f1", "root-token: railway:abc"), CriticalFinding("f2", "no-backup: db")],
    ]
    it = iter(found)
    recorder.outcome = lambda spec, ctx: JobResult("succeeded", "ok", critical=tuple(next(it)))
    clock = ManualClock(datetime(2026, 3, 10, 0, 0, 1, tzinfo=UTC))
    d = Daemon(cfg, db=StateDB(), runner=recorder.runner(), clock=clock)
    d.run_until(datetime(2026, 3, 10, 3, 0, tzinfo=UTC))
    d.close()
    texts = webhook.texts()
    assert len(texts) == 2, texts
    assert "1 new critical" in texts[0] and "railway:abc" in texts[0]
    assert "1 new critical" in texts[1] and "no-backup: db" in texts[1] and "railway:abc" not in texts[1]


def test_failed_verification_and_daily_digest(tmp_path, make_config, recorder, webhook, monkeypatch):
    monkeypatch.setenv("HOOK_URL", webhook.url)
    cfg = make_config(
        CONFIG.replace('path = "store"', f'path = "{tmp_path}/store"')
        + '[notifications]\nwebhook_url = "env:HOOK_URL"\ndigest = "daily"\n'
        'digest_schedule = "0 8 * * *"\n'
    )
    recorder.outcome = lambda spec, ctx: JobResult(
        "failed" if spec.kind == "verification" else "succeeded",
        "count_mismatch: users" if spec.kind == "verification" else "ok",
    )
    clock = ManualClock(datetime(2026, 3, 14, 12, 0, 1, tzinfo=UTC))  # a Saturday
    db = StateDB()
    a = Daemon(cfg, db=db, runner=recorder.runner(), clock=clock)
    b = Daemon(cfg, db=StateDB(db.url), runner=recorder.runner(), clock=clock)  # a second daemon: one digest
    a.open()
    b.open()
    end = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
    while (t := a.next_wakeup()) is not None and t <= end:
        clock.set(max(t, clock.now()))
        a.tick()
        b.tick()
    a.close()
    b.close()
    texts = webhook.texts()
    events = [m["blastwall"]["event"] for m in webhook.received]
    assert events.count("verification_failed") == 1  # Sunday 05:00
    assert events.count("digest") == 1  # Sunday 08:00, sent by one of the two daemons
    digest = texts[events.index("digest")]
    assert "`verification:maindb`: 0 ok, 1 failed" in digest and "`audit:nightly`: 80 ok, 0 failed" in digest
    assert "count_mismatch" in texts[events.index("verification_failed")]


def test_webhook_url_is_never_logged_and_failures_do_not_break_jobs(
    tmp_path, make_config, recorder, canaries, monkeypatch, caplog
):
    token = canaries.mint("T0/B0/{r}")
    monkeypatch.setenv("HOOK_URL", f"http://127.0.0.1:1/services/{token}")  # nothing listens there
    cfg = make_config('[notifications]\nwebhook_url = "env:HOOK_URL"\n[[audits]]\nname = "a"\nschedule = "0 * * * *"\n')
    recorder.outcome = lambda spec, ctx: JobResult("failed", "boom")
    from auditor.scheduler.notify import WebhookNotifier

    notifier = WebhookNotifier(cfg.notifications.webhook_url, sleep=lambda s: None)  # type: ignore[arg-type]
    clock = ManualClock(datetime(2026, 3, 10, 0, 59, 59, tzinfo=UTC))
    d = Daemon(cfg, db=StateDB(), runner=recorder.runner(), clock=clock, notifier=notifier)
    caplog.set_level(logging.DEBUG)
    d.open()
    clock.advance(2)
    (r,) = d.tick()
    d.close()
    assert r.status == "failed"
    assert "not delivered" in caplog.text
    canaries.assert_absent(texts=[caplog.text], trees=[tmp_path])
