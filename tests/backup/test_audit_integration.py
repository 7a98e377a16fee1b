"""The audit shows, for each configured database, its off-platform backup, its age and its verification."""

from __future__ import annotations

import json
import subprocess

from auditor.backup import run_backup, verify_backup
from tests.backup.conftest import BLASTWALL, cli_env


def test_audit_report_shows_offsite_backup_outside_blast_radius(make_setup, pg_server, seaweed, canaries):
    setup = make_setup("s3", lock=("COMPLIANCE", 1))
    for v in setup.env.values():
        if "://" in v or len(v) >= 16:
            canaries.add(v)
    rec = run_backup(setup.config, "app")
    assert verify_backup(setup.config, rec.id, server=pg_server).passed
    out = setup.tmp / "report"
    proc = subprocess.run(
        [
            BLASTWALL,
            "audit",
            "--config",
            str(setup.path),
            "--no-home",
            "--no-env",
            "--offline",
            "--format",
            "json",
            "--format",
            "html",
            "--output-dir",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=cli_env(setup),
        cwd=setup.tmp,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "blastwall-report.json").read_text())
    (b,) = [b for b in doc["backups"] if b["kind"] == "offsite-dump"]
    assert b["same_blast_radius"] is False
    assert any("COMPLIANCE" in r for r in b["reasons"])
    assert b["last_verification"] == "passed" and b["metadata"]["age_s"] >= 0
    db = next(r for r in doc["resources"] if r["id"] == b["protects"])
    assert db["holds_data"] is True and db["name"] == "app"
    assert not [f for f in doc["findings"] if f["rule"] == "no-independent-backup" and f["subject"] == db["id"]]
    html = (out / "blastwall-report.html").read_text()
    row = html[html.index(b["location"]) :][:3000]  # the backup table's row for this backup
    assert "passed" in row, "the recorded verification is shown next to the backup"
    canaries.assert_absent(texts=[proc.stdout, proc.stderr], trees=[out])
