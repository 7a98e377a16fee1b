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


def test_make_lint_is_a_real_check_and_ci_runs_it() -> None:
    """`make lint` fails when a check fails (no `|| true`), and CI's `make test` runs it first."""
    import re

    make = (ROOT / "Makefile").read_text()
    lint = re.search(r"^lint:.*\n((?:\t.*\n)+)", make, re.M)
    assert lint, "no lint target"
    recipe = lint.group(1)
    assert "|| true" not in recipe and "-$(" not in recipe and "\t-" not in recipe, recipe
    assert "ruff check" in recipe and "--select F,E9" in recipe and "mypy" in recipe
    test_deps = re.search(r"^test:(.*)$", make, re.M)
    assert test_deps and "lint" in test_deps.group(1).split()
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    proc = subprocess.run(["make", "-n", "lint"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0 and "ruff check" in proc.stdout and "mypy" in proc.stdout, proc.stdout + proc.stderr
