"""Hazards never abort the scan: binary, huge, symlink loop, unreadable, FIFO, malformed agent config."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from auditor.audit import AuditOptions, run_audit
from tests.support.canary import Canaries
from tests.support.planted import gh, npm


def _hazard_tree(root: Path, canaries: Canaries) -> dict[str, str]:
    root.mkdir(parents=True, exist_ok=True)
    good = canaries.add(npm())
    (root / ".env").write_text(f"NPM_TOKEN={good}\n")
    # binary file that happens to contain a token: skipped, not parsed
    (root / "blob.bin").write_bytes(b"\x00\x01\x02" * 100 + canaries.add(npm()).encode() + b"\x00" * 100)
    # 60 MB text file: over the size limit, reported as not inspected
    with open(root / "huge.log", "wb") as fh:
        line = b"2026-01-01 INFO nothing to see here\n"
        fh.write(line * (60 * 1024 * 1024 // len(line) + 1))
    # symlink loop and a dangling link
    (root / "sub").mkdir()
    os.symlink("..", root / "sub" / "loop")
    os.symlink(root / "does-not-exist", root / "dangling")
    # FIFO: opening it would block forever
    os.mkfifo(root / "pipe")
    # malformed MCP JSON that still contains a token
    (root / ".cursor").mkdir()
    in_bad = canaries.add(npm())
    (root / ".cursor" / "mcp.json").write_text('{"mcpServers": {"x": {"env": {"NPM_TOKEN": "' + in_bad + '"}}, oops')
    # unreadable file
    secret_in_unreadable = canaries.add(npm())
    (root / "private.env").write_text(f"NPM_TOKEN={secret_in_unreadable}\n")
    (root / "private.env").chmod(0)
    # a malformed YAML and a TOML file
    (root / "broken.yaml").write_text("NPM_TOKEN: [1, 2\nb: {{{\n")
    (root / "broken.toml").write_text("[x\nNPM_TOKEN = \n")
    return {"good": good, "in_bad": in_bad, "unreadable": secret_in_unreadable}


def test_hazards_do_not_abort_the_audit(tmp_path: Path, canaries: Canaries) -> None:
    vals = _hazard_tree(tmp_path / "tree", canaries)
    result = run_audit(AuditOptions(paths=[tmp_path / "tree"], home=None, include_env=False, offline=True))
    from auditor.secrets import fingerprint

    fps = {c.fingerprint for c in result.credentials}
    assert fingerprint(vals["good"]) in fps
    assert fingerprint(vals["in_bad"]) in fps, "a token inside malformed JSON is still found as text"
    assert result.stats["files_binary"] >= 1
    assert result.stats["files_too_large"] == 1
    assert result.stats["symlink_loops"] >= 1
    gaps = {Path(g.subject).name: g.reason for g in result.coverage_gaps}
    assert "larger than" in gaps["huge.log"] and "not inspected" in gaps["huge.log"]
    assert "malformed JSON" in gaps["mcp.json"]
    assert "malformed YAML" in gaps["broken.yaml"] and "malformed TOML" in gaps["broken.toml"]


def _unprivileged(cmd: list[str]) -> list[str]:
    """Root reads mode-000 files; drop the DAC-override capabilities so the audit sees what a user sees."""
    if os.geteuid() != 0:
        return cmd
    setpriv = shutil.which("setpriv")
    assert setpriv, "util-linux setpriv is needed to test unreadable files as root"
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--", *cmd]


def test_unreadable_file_is_a_coverage_gap(tmp_path: Path, canaries: Canaries) -> None:
    vals = _hazard_tree(tmp_path / "tree", canaries)
    out = tmp_path / "out"
    cli = Path(sys.executable).with_name("blastwall")
    env = {**os.environ, "HOME": str(tmp_path), "BLASTWALL_STATE_DIR": str(tmp_path / "state")}
    proc = subprocess.run(
        _unprivileged(
            [
                str(cli),
                "audit",
                str(tmp_path / "tree"),
                "--no-home",
                "--no-env",
                "--offline",
                "--format",
                "json",
                "--output-dir",
                str(out),
            ]
        ),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "blastwall-report.json").read_text())
    reasons = {Path(g["subject"]).name: g["reason"] for g in doc["coverage_gaps"]}
    assert "cannot read" in reasons["private.env"] and "not inspected" in reasons["private.env"]
    from auditor.secrets import fingerprint

    fps = {c["fingerprint"] for c in doc["credentials"]}
    assert fingerprint(vals["good"]) in fps and fingerprint(vals["unreadable"]) not in fps
    canaries.assert_absent(texts=[proc.stdout, proc.stderr], trees=[out, tmp_path / "state"])


def test_gh_token_in_binary_not_reported(tmp_path: Path, canaries: Canaries) -> None:
    t = canaries.add(gh())
    (tmp_path / "a.bin").write_bytes(b"\x00" * 10 + t.encode())
    result = run_audit(AuditOptions(paths=[tmp_path], include_env=False, offline=True))
    assert not result.credentials
