"""The ReportFormat seam and write_reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.errors import BlastwallError
from auditor.model import AuditResult
from reports.interface import FORMATS, HtmlFormat, ReportFormat, get_format, write_reports
from reports.json_report import load_json


def test_formats_registry() -> None:
    assert set(FORMATS) == {"json", "html", "sarif"}
    for name, cls in FORMATS.items():
        f = cls()
        assert isinstance(f, ReportFormat) and f.name == name
        assert f.file_name() == f"blastwall-report.{f.extension}"


def test_write_reports_all_three(result: AuditResult, tmp_path: Path) -> None:
    paths = write_reports(result, ["json", "html", "sarif", "html"], tmp_path / "new" / "dir")
    assert [p.name for p in paths] == ["blastwall-report.json", "blastwall-report.html", "blastwall-report.sarif"]
    assert not [p for p in (tmp_path / "new" / "dir").iterdir() if p.name.startswith(".")]  # no temp files left
    again = load_json(paths[0])
    assert [f.id for f in again.findings] == [f.id for f in result.findings]
    assert json.loads(paths[2].read_text())["version"] == "2.1.0"


def test_custom_format_instance(result: AuditResult, tmp_path: Path) -> None:
    class Count(ReportFormat):
        name, extension = "count", "txt"

        def render(self, result: AuditResult) -> bytes:
            return str(len(result.findings)).encode()

    [p] = write_reports(result, [Count()], tmp_path)
    assert p.read_text() == str(len(result.findings))
    [h] = write_reports(
        result, [HtmlFormat(previous_changes={"new": [], "resolved": [], "from": {"generated_at": "X-DAY"}})], tmp_path
    )
    assert "X-DAY" in h.read_text()


def test_unknown_format(result: AuditResult, tmp_path: Path) -> None:
    with pytest.raises(BlastwallError, match="unknown report format"):
        get_format("pdf")
    with pytest.raises(BlastwallError):
        write_reports(result, ["pdf"], tmp_path)
