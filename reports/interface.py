"""The `ReportFormat` seam: one finished `AuditResult` in, one file's content out.

Implementations live as siblings (`json_report`, `html`, `sarif`) and are listed once in
`FORMATS`. `write_reports` is what `blastwall audit` and `blastwall report render` call.
"""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from auditor.errors import BlastwallError
from auditor.model import AuditResult

__all__ = [
    "FORMATS",
    "REPORT_STEM",
    "HtmlFormat",
    "JsonFormat",
    "ReportFormat",
    "SarifFormat",
    "get_format",
    "write_reports",
]

REPORT_STEM = "blastwall-report"


class ReportFormat(ABC):
    """A way of writing one `AuditResult` to one file."""

    name: str  # what users type after --format
    extension: str  # file extension without the dot

    @abstractmethod
    def render(self, result: AuditResult) -> str | bytes:
        """The complete file content. Must never contain a secret value."""

    def file_name(self) -> str:
        return f"{REPORT_STEM}.{self.extension}"


class JsonFormat(ReportFormat):
    name = "json"
    extension = "json"

    def render(self, result: AuditResult) -> str:
        from .json_report import dumps

        return dumps(result) + "\n"


class HtmlFormat(ReportFormat):
    name = "html"
    extension = "html"

    def __init__(
        self,
        *,
        previous_changes: Mapping[str, Any] | None = None,
        verifications: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.previous_changes = previous_changes
        self.verifications = verifications

    def render(self, result: AuditResult) -> str:
        from .html import render_html

        return render_html(result, previous_changes=self.previous_changes, verifications=self.verifications)


class SarifFormat(ReportFormat):
    name = "sarif"
    extension = "sarif"

    def render(self, result: AuditResult) -> str:
        from .sarif import dumps

        return dumps(result) + "\n"


FORMATS: dict[str, type[ReportFormat]] = {f.name: f for f in (JsonFormat, HtmlFormat, SarifFormat)}


def get_format(name: str | ReportFormat) -> ReportFormat:
    if isinstance(name, ReportFormat):
        return name
    try:
        return FORMATS[name.lower()]()
    except KeyError:
        raise BlastwallError(
            f"unknown report format {name!r}", hint="choose from: " + ", ".join(sorted(FORMATS))
        ) from None


def write_reports(result: AuditResult, formats: Iterable[str | ReportFormat], output_dir: str | Path) -> list[Path]:
    """Render `result` once per format into `output_dir/blastwall-report.<ext>`; return the paths written.

    Each file is written to a temporary name and renamed into place, so a reader never sees half a report.
    """
    out = Path(output_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BlastwallError(
            f"cannot create output directory {out}: {exc.strerror}", hint="choose a writable --output-dir"
        ) from None
    chosen: list[ReportFormat] = []
    seen: set[str] = set()
    for f in formats:
        fmt = get_format(f)
        if fmt.name not in seen:
            seen.add(fmt.name)
            chosen.append(fmt)
    written: list[Path] = []
    for fmt in chosen:
        content = fmt.render(result)
        data = content.encode("utf-8") if isinstance(content, str) else content
        target = out / fmt.file_name()
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=out)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(target)
    return written
