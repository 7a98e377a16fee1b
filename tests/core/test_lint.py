"""Habits, enforced: pyflakes-clean everywhere, mypy --strict clean on the core, the providers and the reports."""

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


# named here, not only in pyproject's [tool.mypy] packages, so that narrowing the config cannot quietly pass
MYPY_PACKAGES = ("auditor", "providers", "reports")


def test_mypy_strict_on_the_core_providers_and_reports() -> None:
    args = [str(BIN / "mypy"), "--no-incremental", "--strict"]
    for pkg in MYPY_PACKAGES:
        args += ["-p", pkg]
    proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success: no issues found" in proc.stdout, proc.stdout
