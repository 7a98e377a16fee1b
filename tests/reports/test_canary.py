"""No secret value appears in any report format: canaries planted as credential values and companions."""

from __future__ import annotations

from pathlib import Path

from reports.html import decode_findings_blob, embedded_texts
from reports.interface import write_reports

from .fixtures import realistic_result, sample_changes


def test_no_secret_in_html_sarif_json(canaries, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = realistic_result(canaries.mint)
    assert len(canaries.values) >= 5  # every credential value and the AWS secret key companion
    r = r.model_copy(update={"changes": sample_changes(r)})
    out = tmp_path / "out"
    paths = write_reports(r, ["html", "sarif", "json"], out)
    assert sorted(p.name for p in paths) == ["blastwall-report.html", "blastwall-report.json", "blastwall-report.sarif"]
    html = (out / "blastwall-report.html").read_text()
    decoded = str(decode_findings_blob(html))
    canaries.assert_absent(texts=[html, decoded], trees=[out])
    # the reports identify credentials by fingerprint instead
    for c in r.credentials:
        assert c.fingerprint in html


def test_no_secret_in_compressed_html(canaries, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from reports import html as html_mod

    monkeypatch.setattr(html_mod, "COMPRESS_ABOVE", 10)
    monkeypatch.setattr(html_mod, "FOLD_INLINE_MAX", 0)
    monkeypatch.setattr(html_mod, "CARDS_OPEN", 2)  # the other three cards go into the compressed fold
    r = realistic_result(canaries.mint)
    html = html_mod.render_html(r)
    unpacked = embedded_texts(html)
    assert len(unpacked) == 2 and any("<article" in t for t in unpacked)
    canaries.assert_absent(texts=[html, str(decode_findings_blob(html)), *unpacked])
