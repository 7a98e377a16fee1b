"""The default JobRunner against the real audit and verification code (no injected job functions)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from auditor.config import load_config
from auditor.scheduler import Daemon, ManualClock


def test_scheduled_audit_writes_its_reports(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "README.md").write_text("nothing secret here\n")
    out = tmp_path / "reports"
    p = tmp_path / "blastwall.toml"
    p.write_text(
        f'[[audits]]\nname = "nightly"\npaths = ["{project}"]\nformats = ["json"]\n'
        f'output_dir = "{out}"\nschedule = "0 2 * * *"\noffline = true\n'
    )
    clock = ManualClock(datetime(2026, 3, 10, 1, 59, 59, tzinfo=UTC))
    d = Daemon(load_config(p), clock=clock)
    d.open()
    clock.advance(timedelta(seconds=2))
    (r,) = d.tick()
    d.close()
    assert r.status == "succeeded", r.message
    report = json.loads((out / "blastwall-report.json").read_text())
    assert report["schema_version"] == 1


def test_scheduled_verification_with_nothing_to_verify_fails_and_notifies(tmp_path, webhook, monkeypatch):
    monkeypatch.setenv("HOOK_URL", webhook.url)
    monkeypatch.setenv("SRC_URL", "postgresql://u:p@127.0.0.1:1/db")
    p = tmp_path / "blastwall.toml"
    p.write_text(
        f'[[sources]]\nname = "maindb"\nurl = "env:SRC_URL"\n'
        f'[[stores]]\nname = "local"\nkind = "local"\npath = "{tmp_path / "store"}"\n'
        f'[[backups]]\nsource = "maindb"\nstore = "local"\n'
        f'[[verifications]]\nsource = "maindb"\nschedule = "0 4 * * *"\nmode = "quick"\n'
        f'[notifications]\nwebhook_url = "env:HOOK_URL"\n'
    )
    clock = ManualClock(datetime(2026, 3, 10, 3, 59, 59, tzinfo=UTC))
    d = Daemon(load_config(p), clock=clock)
    d.open()
    clock.advance(timedelta(seconds=2))
    (r,) = d.tick()
    d.close()
    assert r.status == "failed"
    assert [m["blastwall"]["event"] for m in webhook.received] == ["verification_failed"]
    assert "verification:maindb" in webhook.texts()[0]
