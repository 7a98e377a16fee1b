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
