"""A scheduled backup that fails for real (its database is a closed port on 127.0.0.1) is notified to a
local webhook, shows in `schedule list` and fails the health check - and its secrets appear nowhere."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
from typer.testing import CliRunner

from auditor.cli import app
from auditor.scheduler import Daemon, ManualClock
from auditor.state import default_state_dir

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "schemas" / "schedule-list.json").read_text())


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


def test_failing_backup_notifies_and_shows_in_list_and_healthcheck(tmp_path, monkeypatch, webhook, canaries):
    password = canaries.mint("pw{r}")
    hook_token = canaries.mint("hooksecret{r}")
    hook_url = webhook.url + "?token=" + hook_token
    monkeypatch.setenv("SRC_URL", f"postgresql://backup:{password}@127.0.0.1:{_closed_port()}/app")
    monkeypatch.setenv("HOOK_URL", hook_url)
    cfg_path = tmp_path / "blastwall.toml"
    cfg_path.write_text(f"""
[[sources]]
name = "maindb"
url = "env:SRC_URL"

[[stores]]
name = "local"
kind = "local"
path = "{tmp_path / "store"}"

[[backups]]
source = "maindb"
store = "local"
schedule = "0 * * * *"

[notifications]
webhook_url = "env:HOOK_URL"
""")
    from auditor.config import load_config

    cfg = load_config(cfg_path)
    clock = ManualClock(datetime.now(UTC).replace(minute=59, second=58, microsecond=0) - timedelta(hours=1))
    d = Daemon(cfg, clock=clock)  # the real JobRunner: auditor.backup.run_backup
    d.open()
    clock.advance(timedelta(seconds=3))
    (report,) = d.tick()
    d.close()
    assert report.status == "failed", report
    # it failed for the real reason: nothing listens on that port
    assert "maindb" in report.message and "127.0.0.1" in report.message and "refused" in report.message.lower()
    slot = report.slot

    # the webhook got a Slack-compatible message naming the job and the failure
    assert len(webhook.received) == 1
    note = webhook.received[0]
    assert set(note) >= {"text"} and isinstance(note["text"], str)
    assert "backup:maindb" in note["text"] and "failed" in note["text"] and slot in note["text"]
    assert note["blastwall"] == {"event": "backup_failed", "job": "backup:maindb"}

    runner = CliRunner()
    res = runner.invoke(app, ["schedule", "list", "--config", str(cfg_path), "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    jsonschema.validate(rows, SCHEMA)
    (row,) = rows
    assert row["job"] == "backup:maindb" and row["kind"] == "backup"
    assert row["last_run"]["outcome"] == "failed" and row["last_run"]["message"]

    res = runner.invoke(app, ["daemon", "--config", str(cfg_path), "--healthcheck"])
    assert res.exit_code == 3  # unhealthy: problems found, not a crash
    assert "backup:maindb: last run failed" in res.stderr.replace("\n", " ")

    table = runner.invoke(app, ["schedule", "list", "--config", str(cfg_path)])
    assert "failed" in table.stdout

    canaries.assert_absent(
        texts=[json.dumps(webhook.received), res.stdout, res.stderr, table.stdout, json.dumps(rows)],
        trees=[default_state_dir(), tmp_path / "store"],
    )
