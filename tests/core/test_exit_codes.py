"""Every command's exit codes follow the one documented table (docs/reference/exit-codes.md):
0 ok, 1 error, 2 usage, 3 problems found, 4 approval pending/rejected, 130 interrupted.

Here, per command: a usage error is 2 and an error (missing configuration or report) is 1, never 3; and the
"problems found" outcomes that need no server are 3. Outcomes that need real servers are tested where those
servers run: `verify` of a damaged backup (tests/backup/test_cli_json.py), `daemon --healthcheck` unhealthy
(tests/scheduler/test_failing_backup.py), approvals (tests/workflow/test_restore.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "blastwall")

# command -> the arguments it needs to get past argument parsing
COMMANDS: dict[str, list[str]] = {
    "audit": [],
    "verify": ["bk-1"],
    "approve": ["run-1", "--as", "me"],
    "reject": ["run-1", "--as", "me"],
    "restore": ["bk-1", "--target", "t"],
    "daemon": [],
    "report render": ["report.json"],
    "report diff": [],
    "backup run": ["app"],
    "backup list": [],
    "backup prune": [],
    "backup check-store": ["offsite"],
    "runs list": [],
    "runs show": ["run-1"],
    "runs resume": ["run-1"],
    "runs statement": ["run-1", "--as", "me"],
    "schedule list": [],
    "schedule run-now": ["job"],
    "init": [],
    "state upgrade": [],
}


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def main(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, str]:
    """The console script's entry point in-process (the same `main()` that maps outcomes to codes), fast."""
    from auditor.cli import main as cli_main

    monkeypatch.setattr(sys, "argv", ["blastwall", *args])
    try:
        cli_main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_table_lists_every_command() -> None:
    from auditor.cli import full_command  # the lazily loaded root with every subcommand

    found: list[str] = []

    def walk(cmd: object, path: list[str]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, [*path, name])
        else:
            found.append(" ".join(path))

    walk(full_command(), [])
    assert sorted(found) == sorted(COMMANDS)
    table = (ROOT / "docs" / "reference" / "exit-codes.md").read_text()
    assert {int(c) for c in re.findall(r"^\| (\d+) \|", table, re.M)} == {0, 1, 2, 3, 4, 130}
    for cmd in ("audit --fail-on", "backup check-store", "verify", "daemon --healthcheck"):
        assert cmd in table.split("| 3 |", 1)[1].split("\n", 1)[0], cmd  # each "problems found" is documented


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_usage_error_is_2(command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = main(capsys, monkeypatch, *command.split(), *COMMANDS[command], "--no-such-option")
    assert code == 2, (out, err)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_error_is_1_never_3(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    if command == "report render":
        args = ["report", "render", str(tmp_path / "missing.json"), "--output-dir", str(tmp_path / "out")]
    elif command == "init":  # no configuration to read: a missing report is its error
        args = ["init", "--from-report", str(tmp_path / "missing.json"), "-o", str(tmp_path / "out.toml")]
    else:
        args = [*command.split(), *COMMANDS[command], "--config", str(tmp_path / "missing.toml")]
    code, out, err = main(capsys, monkeypatch, *args)
    assert code == 1, (out, err)
    assert "error" in err.lower()


def test_check_store_on_a_deletable_store_is_3(tmp_path: Path) -> None:
    cfg = tmp_path / "blastwall.toml"
    cfg.write_text(
        f'[state]\nurl = "sqlite:///{tmp_path / "state.db"}"\n\n'
        f'[[stores]]\nname = "offsite"\nkind = "local"\npath = "{tmp_path / "store"}"\n'
    )
    p = run("backup", "check-store", "offsite", "--config", str(cfg))
    assert p.returncode == 3, (p.stdout, p.stderr)  # was 1, the code of a crash
    assert "delete backups:    POSSIBLE" in p.stdout
    assert run("backup", "check-store", "nowhere", "--config", str(cfg)).returncode == 1  # unknown store: error


def test_audit_findings_at_fail_on_are_3(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".env").write_text("DATABASE_URL=postgresql://app:Zq8vLm2Rt6Yp4Wk9@db.internal:5432/prod\n")
    base = ["audit", str(repo), "--no-home", "--no-env", "--offline", "-o", str(tmp_path / "out")]
    assert run(*base, "--fail-on", "medium").returncode == 3
    assert run(*base).returncode == 0
