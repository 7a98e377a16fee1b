"""Habits, enforced: `ruff check` and `ruff format --check` over the whole tree, mypy --strict on the core,
the providers and the reports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


# named here, not only in pyproject's [tool.ruff.lint], so that narrowing the config cannot quietly pass
RUFF_RULES = ("E4", "E7", "E9", "F", "I", "B", "UP")


def _ruff(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "ruff"), *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_ruff_check_whole_tree() -> None:
    import tomllib

    lint = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]
    assert set(RUFF_RULES) <= set(lint["select"]), lint["select"]
    proc = _ruff("check", ".")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_format_check_whole_tree() -> None:
    proc = _ruff("format", "--check", ".")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_with_the_project_config_rejects_what_it_should(tmp_path: Path) -> None:
    """The two checks above can fail: the project's configuration flags an unused import, a loop-variable
    closure and a badly formatted line."""
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfns = []\nfor i in range(3):\n    fns.append(lambda: i)\nx = {  'a':1 }\n")
    cfg = str(ROOT / "pyproject.toml")
    check = _ruff("check", "--config", cfg, "--output-format", "concise", str(bad), cwd=tmp_path)
    assert check.returncode == 1 and "F401" in check.stdout and "B023" in check.stdout, check.stdout
    fmt = _ruff("format", "--config", cfg, "--check", str(bad), cwd=tmp_path)
    assert fmt.returncode == 1 and "would be reformatted" in (fmt.stdout + fmt.stderr).lower(), fmt.stdout + fmt.stderr


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
    offenders = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in files
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if hard_coded.search(line)
    ]
    assert offenders == [], offenders


def test_make_lint_is_a_real_check_and_ci_runs_it() -> None:
    """`make lint` fails when a check fails (no `|| true`), and CI's `make test` runs it first."""
    import re

    make = (ROOT / "Makefile").read_text()
    lint = re.search(r"^lint:.*\n((?:\t.*\n)+)", make, re.M)
    assert lint, "no lint target"
    recipe = lint.group(1)
    assert "|| true" not in recipe and "-$(" not in recipe and "\t-" not in recipe, recipe
    assert "ruff check ." in recipe and "ruff format --check ." in recipe and "mypy" in recipe
    test_deps = re.search(r"^test:(.*)$", make, re.M)
    assert test_deps and "lint" in test_deps.group(1).split()
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    proc = subprocess.run(["make", "-n", "lint"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0 and "ruff check" in proc.stdout and "mypy" in proc.stdout, proc.stdout + proc.stderr
