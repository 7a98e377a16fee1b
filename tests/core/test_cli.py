"""The CLI's contract: exit codes, --help with examples, one JSON document on stdout with --json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.canary import Canaries
from tests.support.planted import pgurl

CLI = str(Path(sys.executable).with_name("blastwall"))


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    e = {**os.environ, **(env or {})}
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=e, timeout=120, cwd=cwd)


def test_exit_codes(tmp_path: Path, canaries: Canaries) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    key = canaries.add(pgurl())
    (repo / ".env").write_text(f"DATABASE_URL={key}\n")  # a medium finding: destructive capability unknown
    base = ["audit", str(repo), "--no-home", "--no-env", "--offline", "-o", str(tmp_path / "out")]
    assert run(*base).returncode == 0
    p = run(*base, "--fail-on", "medium")
    assert p.returncode == 3, p.stderr
    assert run(*base, "--fail-on", "high").returncode == 0
    clean = tmp_path / "clean"
    clean.mkdir()
    assert (
        run(
            "audit", str(clean), "--no-home", "--no-env", "--offline", "-o", str(tmp_path / "o2"), "--fail-on", "low"
        ).returncode
        == 0
    )
    assert run("audit", "--fail-on", "nonsense").returncode == 2
    assert run("no-such-command").returncode == 2
    bad = tmp_path / "bad.toml"
    bad.write_text("[[sources]]\nname = 'x'\nurl = 'env:X'\ncolour = 1\n")
    p = run(*base, "--config", str(bad))
    assert p.returncode == 1 and "bad.toml:4" in p.stderr and "colour" in p.stderr
    canaries.assert_absent(trees=[tmp_path / "out"])


def test_json_output_is_one_document(tmp_path: Path) -> None:
    p = run("audit", str(tmp_path), "--no-home", "--no-env", "--offline", "--json", "-o", str(tmp_path / "out"))
    assert p.returncode == 0
    doc = json.loads(p.stdout)
    for key in (
        "schema_version",
        "generated_at",
        "credentials",
        "resources",
        "backups",
        "findings",
        "exposure",
        "coverage_gaps",
    ):
        assert key in doc
    assert doc["schema_version"] == 1


@pytest.mark.parametrize("cmd", [["audit"], []])
def test_help_has_examples_and_exit_codes(cmd: list[str]) -> None:
    p = run(*cmd, "--help")
    assert p.returncode == 0
    assert "Exit codes" in p.stdout
    if cmd:
        assert "Examples" in p.stdout and "blastwall audit" in p.stdout


def test_every_command_has_help_with_examples() -> None:
    from auditor.cli import all_commands

    missing: list[str] = []

    def walk(cmd: object, path: list[str]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, [*path, name])
        elif "Examples" not in (getattr(cmd, "help", None) or ""):
            missing.append(" ".join(path))

    commands = all_commands()
    assert {"audit", "backup", "verify", "restore", "approve", "reject", "runs", "report", "schedule", "daemon"} <= set(
        commands
    )
    for name, cmd in commands.items():
        walk(cmd, [name])
    assert not missing, f"commands without an Examples section in --help: {missing}"
