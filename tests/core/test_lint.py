"""Habits, enforced: pyflakes-clean everywhere, mypy --strict clean on the core."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_ruff_pyflakes_clean() -> None:
    proc = subprocess.run([str(BIN / "ruff"), "check", "--isolated", "--select", "F,E9", "--target-version", "py311",
                           "auditor", "providers", "reports", "tests", "bench"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict_on_the_core() -> None:
    proc = subprocess.run([str(BIN / "mypy"), "--no-incremental"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_tests_run_the_console_script_of_the_running_environment() -> None:
    """The suite must work however Blastwall was installed (not only in ./.venv): tests and benches find the
    CLI next to the running interpreter, `Path(sys.executable).parent / "blastwall"`."""
    import re

    assert (BIN / "blastwall").is_file()
    hard_coded = re.compile(r"""(["'])\.venv\1|["'][^"'\n]*\.venv/bin""")
    files = [p for d in ("tests", "bench") for p in sorted((ROOT / d).rglob("*.py")) if p != Path(__file__)]
    offenders = [f"{p.relative_to(ROOT)}:{n}" for p in files
                 for n, line in enumerate(p.read_text().splitlines(), 1) if hard_coded.search(line)]
    assert offenders == [], offenders
