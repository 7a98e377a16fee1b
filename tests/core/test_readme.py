"""The README stays true and short: its two commands are what CI runs, and its links resolve."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_quick_start_is_two_commands_and_ci_runs_the_test_one() -> None:
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = quick.split("```sh", 1)[1].split("```", 1)[0]
    commands = [ln.split("#")[0].strip() for ln in block.strip().splitlines() if ln.strip()]
    assert commands == ["make audit", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert [ln.strip() for ln in ci.splitlines() if ln.strip() and not ln.startswith("#")][-1] == "make test"


def test_readme_is_short_and_its_links_resolve() -> None:
    assert len(README.splitlines()) <= 250  # everything else lives in the docs site (docs/, mkdocs.yml)
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README)
    assert links, "the README links to the docs"
    missing = [link for link in links if not link.startswith("http") and not (ROOT / link).exists()]
    assert not missing, f"README links to files that do not exist: {missing}"
    for install in ("pipx install blastwall", "uv tool install blastwall", "pip install blastwall"):
        assert install in README
