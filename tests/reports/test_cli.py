"""`blastwall report render` and `blastwall report diff`, run as the real command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from auditor.cli import app
from auditor.history import record_audit
from auditor.state import StateDB
from reports.interface import write_reports

from .fixtures import NOW, realistic_result

BLASTWALL = Path(sys.executable).parent / "blastwall"

DIFF_SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "schemas" / "report-diff.json").read_text())


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BLASTWALL), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
    )


def test_render_html_and_sarif_from_saved_json(tmp_path: Path, canaries) -> None:  # type: ignore[no-untyped-def]
    r = realistic_result(canaries.mint)
    [saved] = write_reports(r, ["json"], tmp_path / "audit")
    out = tmp_path / "rendered"
    p = _run("report", "render", str(saved), "--format", "html", "--format", "sarif", "--output-dir", str(out))
    assert p.returncode == 0, p.stderr
    assert sorted(x.name for x in out.iterdir()) == ["blastwall-report.html", "blastwall-report.sarif"]
    assert str(out / "blastwall-report.html") in p.stdout
    html = (out / "blastwall-report.html").read_text()
    assert "What could an agent destroy today" in html
    assert json.loads((out / "blastwall-report.sarif").read_text())["version"] == "2.1.0"
    canaries.assert_absent(texts=[p.stdout, p.stderr], trees=[out])


def test_render_defaults_to_html_next_to_the_report(tmp_path: Path) -> None:
    [saved] = write_reports(realistic_result(), ["json"], tmp_path)
    res = CliRunner().invoke(app, ["report", "render", str(saved)])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "blastwall-report.html").is_file()
    assert not (tmp_path / "blastwall-report.sarif").exists()


def test_render_errors(tmp_path: Path) -> None:
    p = _run("report", "render", str(tmp_path / "missing.json"))
    assert p.returncode == 1 and "does not exist" in " ".join(p.stderr.split())  # rich wraps lines
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 99}')
    res = CliRunner().invoke(app, ["report", "render", str(bad)])
    assert res.exit_code == 1 and "schema_version 1" in str(res.exception)
    res = CliRunner().invoke(app, ["report", "render", str(bad), "--format", "pdf"])
    assert res.exit_code == 2


def test_help_has_examples() -> None:
    for cmd in ("render", "diff"):
        res = CliRunner().invoke(app, ["report", cmd, "--help"])
        assert res.exit_code == 0 and "Examples" in res.stdout and "Exit codes" in res.stdout


@pytest.fixture
def two_audits() -> list[str]:
    base = realistic_result()
    f = list(base.findings)
    db = StateDB()
    try:
        record_audit(db, base.model_copy(update={"generated_at": NOW - timedelta(days=3), "findings": tuple(f[:5])}))
        record_audit(db, base.model_copy(update={"generated_at": NOW, "findings": tuple(f[3:])}))
    finally:
        db.dispose()
    return [x.id for x in f]


def test_diff_json(two_audits: list[str]) -> None:
    p = _run("report", "diff", "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)  # exactly one JSON document on stdout
    jsonschema.validate(doc, DIFF_SCHEMA)
    assert {x["id"] for x in doc["new"]} == set(two_audits[5:])
    assert {x["id"] for x in doc["resolved"]} == set(two_audits[:3])
    assert doc["counts"] == {"new": len(two_audits) - 5, "resolved": 3}
    # a date before both audits: nothing to compare with, everything current is new
    res = CliRunner().invoke(app, ["report", "diff", "--since", "2020-01-01", "--json"])
    doc = json.loads(res.stdout)
    jsonschema.validate(doc, DIFF_SCHEMA)
    assert doc["from"] is None and len(doc["new"]) == len(two_audits) - 3
    # the day of the first audit
    day = (NOW - timedelta(days=3)).date().isoformat()
    doc = json.loads(CliRunner().invoke(app, ["report", "diff", "--since", day, "--json"]).stdout)
    assert doc["counts"] == {"new": len(two_audits) - 5, "resolved": 3}


def test_diff_human(two_audits: list[str]) -> None:
    res = CliRunner().invoke(app, ["report", "diff"])
    assert res.exit_code == 0, res.output
    assert "New findings" in res.stdout and "Resolved findings" in res.stdout
    assert "[critical]" in res.stdout or "[high]" in res.stdout


def test_diff_errors() -> None:
    p = _run("report", "diff", "--json")
    assert p.returncode == 1 and p.stdout == "" and "no audit has been recorded" in " ".join(p.stderr.split())
    res = CliRunner().invoke(app, ["report", "diff", "--since", "not-a-date"])
    assert res.exit_code == 1 and "--since" in str(res.exception)


def test_diff_uses_state_url_from_config(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'team.db'}"
    db = StateDB(url)
    try:
        record_audit(db, realistic_result())
    finally:
        db.dispose()
    cfg = tmp_path / "blastwall.toml"
    cfg.write_text(f'[state]\nurl = "{url}"\n')
    res = CliRunner().invoke(app, ["report", "diff", "--json", "--config", str(cfg)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["from"] is None
    res = CliRunner().invoke(app, ["report", "diff", "--json", "--state-url", url])
    assert res.exit_code == 0 and len(json.loads(res.stdout)["new"]) == len(realistic_result().findings)
