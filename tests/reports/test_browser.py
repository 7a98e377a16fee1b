"""The HTML report in real headless Chromium: no console errors, no network, working controls."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.model import AuditResult, Finding, Severity
from reports import html as html_mod
from reports.interface import write_reports

from .fixtures import realistic_result, sample_changes

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _open(chromium, path: Path):  # type: ignore[no-untyped-def]
    page = chromium.open(path.as_uri())
    assert page.wait_for("document.documentElement.dataset.ready") == "1"
    return page


def _assert_clean(page, path: Path) -> None:  # type: ignore[no-untyped-def]
    assert page.errors == [], f"console errors / exceptions: {page.errors}"
    assert [u for u in page.requests if u != path.as_uri()] == [], f"network requests: {page.requests}"
    assert page.failed_requests == []


def test_report_in_chromium(chromium, result: AuditResult, test_output_dir: Path) -> None:  # type: ignore[no-untyped-def]
    [path] = write_reports(result, ["html"], test_output_dir)
    page = _open(chromium, path)
    shot = page.screenshot(test_output_dir / "report-light.png")
    assert shot.stat().st_size > 10_000
    page.emulate_media(color_scheme="dark")
    page.screenshot(test_output_dir / "report-dark.png", full_page=False)
    bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert bg == "rgb(15, 18, 22)"
    page.emulate_media(media="print")
    page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    assert page.evaluate("getComputedStyle(document.querySelector('.top')).display") == "none"
    page.emulate_media()
    assert page.evaluate("document.querySelectorAll('#f-body tr').length") == len(result.findings)
    _assert_clean(page, path)


def test_findings_filter_search_and_pages(chromium, test_output_dir: Path) -> None:  # type: ignore[no-untyped-def]
    extra = tuple(
        Finding.make(
            "bench/generated",
            Severity.low if i % 2 else Severity.medium,
            f"res-{i}",
            f"generated finding number {i} (batch-{chr(97 + i % 26)})",
            "nothing",
            path=f"/p/{i}.env",
            line=i + 1,
        )
        for i in range(230)
    )
    r = realistic_result(extra_findings=extra)
    [path] = write_reports(r, ["html"], test_output_dir)
    page = _open(chromium, path)
    rows = "document.querySelectorAll('#f-body tr').length"
    status = "document.getElementById('f-status').textContent"
    assert page.evaluate(rows) == 50
    assert "of 240 matching" in page.evaluate(status)
    page.evaluate("document.getElementById('f-last').click()")
    assert page.evaluate(rows) == 40 and page.evaluate("document.getElementById('f-next').disabled")
    # severity filter
    page.evaluate("document.querySelector('input[name=sev][value=low]').click()")
    assert "of 124 matching" in page.evaluate(status)
    # text search over all findings (AND of words), typed for real
    page.evaluate("document.getElementById('f-q').focus()")
    page.send("Input.insertText", {"text": "finding batch-q"})
    page.press("Enter")
    page.wait_for("document.getElementById('f-status').textContent.includes('of 9 matching')")
    texts = page.evaluate("[...document.querySelectorAll('#f-body tr td.msg')].map(td => td.textContent)")
    assert len(texts) == 9 and all("batch-q" in t for t in texts)
    # credential filter opens and hides cards
    page.evaluate(
        "const q = document.getElementById('cred-q'); q.value = 'claude.json';q.dispatchEvent(new Event('input'))"
    )
    page.wait_for("document.getElementById('cred-status').textContent.startsWith('1 of 5')")
    _assert_clean(page, path)


def test_keyboard_reaches_controls(chromium, result: AuditResult, test_output_dir: Path) -> None:  # type: ignore[no-untyped-def]
    [path] = write_reports(result, ["html"], test_output_dir)
    page = _open(chromium, path)
    seen = []
    for _ in range(60):
        page.press("Tab")
        seen.append(
            page.evaluate(
                "(e => e.id || e.tagName + ':' + (e.getAttribute('href') || e.value || ''))(document.activeElement)"
            )
        )
    assert seen[0] == "A:#main"  # the skip link comes first
    assert "cred-q" in seen
    assert any(s.startswith("A:#cred-") for s in seen)  # nodes of the map are links to the cards
    # the skip link lands on the report
    page.evaluate("document.querySelector('.skip').focus()")
    page.press("Enter", text="\r")
    assert page.wait_for("location.hash === '#main'")
    _assert_clean(page, path)


def test_compressed_findings_decode_in_browser(
    chromium,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
    test_output_dir: Path,
) -> None:
    monkeypatch.setattr(html_mod, "COMPRESS_ABOVE", 100)
    r = realistic_result()
    r = r.model_copy(update={"changes": sample_changes(r)})
    [path] = write_reports(r, ["html"], test_output_dir)
    assert 'data-encoding="gzip+base64"' in path.read_text()
    page = _open(chromium, path)
    assert page.evaluate("document.querySelectorAll('#f-body tr').length") == len(r.findings)
    _assert_clean(page, path)


def test_folded_cards_unpack_on_demand(
    chromium,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
    test_output_dir: Path,
) -> None:
    monkeypatch.setattr(html_mod, "FOLD_INLINE_MAX", 0)
    monkeypatch.setattr(html_mod, "CARDS_OPEN", 2)
    r = realistic_result()
    [path] = write_reports(r, ["html"], test_output_dir)
    page = _open(chromium, path)
    count = "document.querySelectorAll('article.card').length"
    assert page.evaluate(count) == 2
    # a finding links to a folded card: following the link unpacks the fold and jumps there
    gh = next(c for c in r.credentials if c.provider == "github")
    page.evaluate(f"location.hash = '#cred-{gh.id}'")
    page.wait_for(f"document.getElementById('cred-{gh.id}') !== null")
    assert page.evaluate(count) == 5
    assert page.evaluate("document.getElementById('more-cards').open")
    assert page.evaluate("document.getElementById('more-cards-data') === null")
    page.evaluate(
        "const q = document.getElementById('cred-q'); q.value = 'hosts.yml';q.dispatchEvent(new Event('input'))"
    )
    page.wait_for("document.getElementById('cred-status').textContent.startsWith('1 of 5')")
    _assert_clean(page, path)


def test_harness_sees_errors_and_requests(chromium, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The checks above are only worth something if the harness notices a fetch and an error."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!doctype html><title>x</title><img src='http://127.0.0.1:9/pixel.png'>"
        "<script>console.error('boom'); document.documentElement.dataset.ready = '1';"
        "setTimeout(() => { throw new Error('kaboom'); }, 0);</script>"
    )
    page = chromium.open(bad.as_uri())
    page.wait_for("document.documentElement.dataset.ready")
    page.wait_for("new Promise(r => setTimeout(() => r(true), 100))")
    assert "http://127.0.0.1:9/pixel.png" in page.requests
    assert any("boom" in e for e in page.console_errors)
    assert any("kaboom" in e for e in page.exceptions)


def test_folded_backups_unpack_when_opened(
    chromium,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
    test_output_dir: Path,
) -> None:
    from .test_html import _many

    monkeypatch.setattr(html_mod, "FOLD_INLINE_MAX", 0)
    [path] = write_reports(_many(5, 150), ["html"], test_output_dir)
    page = _open(chromium, path)
    rows = "document.querySelectorAll('#backups tr[class^=r-]').length"
    assert page.evaluate(rows) == 100
    page.evaluate("document.querySelector('#more-backups summary').focus()")
    page.press("Enter", text="\r")  # keyboard opens the fold
    page.wait_for(f"{rows} === 150")
    _assert_clean(page, path)
