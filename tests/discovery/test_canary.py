"""Canary test: after an audit, no planted secret appears in any output file, log line or CLI output."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.registry import BUILTIN_PROVIDERS
from tests.support.canary import Canaries
from tests.support.planted import build


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize("mode", ["offline", "unreachable-providers"])
def test_no_secret_in_any_output(tmp_path: Path, canaries: Canaries, mode: str) -> None:
    planted = build(tmp_path / "fx", canaries)
    out, state = tmp_path / "out", tmp_path / "state"
    env = {k: v for k, v in os.environ.items()}
    env.update(planted.env)  # the planted environment is scanned too
    env.update({"HOME": str(planted.home), "BLASTWALL_STATE_DIR": str(state), "COLUMNS": "200"})
    args = [str(Path(sys.executable).with_name("blastwall")), "--verbose", "audit", str(planted.repo),
            "--home", str(planted.home), "--format", "json", "--format", "html", "--format", "sarif",
            "--output-dir", str(out)]
    if mode == "offline":
        args.append("--offline")
    else:
        # every provider endpoint points at a closed local port: all identify calls fail
        dead = f"http://127.0.0.1:{_closed_port()}"
        for name in BUILTIN_PROVIDERS:
            env[f"BLASTWALL_{name.upper()}_URL"] = dead
        env["AWS_ENDPOINT_URL"] = dead
        env["AWS_MAX_ATTEMPTS"] = "1"
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode in (0, 3), proc.stderr[-2000:]
    assert (out / "blastwall-report.json").exists()
    assert (out / "blastwall-report.html").exists()
    canaries.assert_absent(texts=[proc.stdout, proc.stderr], trees=[out, state])
    # and the JSON run (stdout) path too
    proc2 = subprocess.run(args + ["--json"], capture_output=True, text=True, env=env, timeout=300)
    assert proc2.returncode in (0, 3)
    canaries.assert_absent(texts=[proc2.stdout, proc2.stderr], trees=[out, state])
    assert '"schema_version": 1' in proc2.stdout
