"""What cannot be read is said, never swallowed (issue 15): off-platform backups that fail to load are a
coverage gap; a state database that cannot be opened is a warning naming what is left out."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from auditor.audit import AuditOptions, run_audit
from auditor.config import load_config

CONFIG = """
[state]
url = "sqlite:///{state}"

[[sources]]
name = "app"
url = "env:SRC_DATABASE_URL"

[[stores]]
name = "offsite"
kind = "local"
path = "{store}"

[[backups]]
source = "app"
store = "offsite"
"""


def _config(tmp_path: Path, state: str) -> Path:
    p = tmp_path / "blastwall.toml"
    p.write_text(CONFIG.format(state=state, store=tmp_path / "store"))
    return p


def test_backups_that_cannot_be_loaded_are_a_coverage_gap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_config(_config(tmp_path, str(tmp_path / "state.db")))
    monkeypatch.setitem(sys.modules, "auditor.backup", None)  # `from .backup import …` raises ImportError
    result = run_audit(AuditOptions(home=tmp_path / "h", env={}, include_env=False, offline=True, config=cfg))
    gaps = [g for g in result.coverage_gaps if g.subject == "off-platform backups"]
    assert gaps and "could not be loaded" in gaps[0].reason, result.coverage_gaps


def test_an_unopenable_state_database_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    cfg = _config(tmp_path, str(tmp_path / "file" / "state.db"))  # a path under a file: cannot be created
    empty = tmp_path / "repo"
    empty.mkdir()
    import subprocess

    p = subprocess.run(
        [
            str(Path(sys.executable).parent / "blastwall"),
            "audit",
            str(empty),
            "--no-home",
            "--no-env",
            "--offline",
            "--config",
            str(cfg),
            "-o",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "warning:" in p.stderr and "audit history is not recorded" in p.stderr, (p.returncode, p.stderr)
