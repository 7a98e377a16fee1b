"""Hints, paths and commands are printed as they are: Rich markup never eats `[...]` (issue 15: the hint for a
missing PostgreSQL client read "pip install 'blastwall'" because Rich swallowed `[pg]`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from auditor.cli import _common
from auditor.errors import BlastwallError
from auditor.pgtools import _INSTALL_HINT

CLI = str(Path(sys.executable).parent / "blastwall")


def test_a_hint_with_brackets_is_printed_whole() -> None:
    assert "[pg]" in _INSTALL_HINT
    with _common.err_console.capture() as cap:
        _common.print_error(BlastwallError("PostgreSQL client not found", hint=_INSTALL_HINT))
    out = cap.get()
    assert "pip install 'blastwall[pg]'" in out, out
    assert _INSTALL_HINT in " ".join(out.split())


def test_paths_with_brackets_are_printed_whole(tmp_path: Path) -> None:
    repo, out_dir = tmp_path / "repo[pg]", tmp_path / "report[bold]"
    repo.mkdir()
    p = subprocess.run(
        [CLI, "audit", str(repo), "--no-home", "--no-env", "--offline", "-o", str(out_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    assert f"wrote {out_dir}/" in p.stdout, p.stdout
