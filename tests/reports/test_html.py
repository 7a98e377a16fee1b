"""The HTML report as text: sections, escaping, collapsing, scale-safe embedding."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from auditor.model import AuditResult, Backup, Credential, Exposure, Finding, Resource, Severity, Source
from auditor.secrets import Secret
from reports import html as html_mod
from reports.html import GRAPH_LIMITS, decode_findings_blob, render_html, script_json

from .fixtures import NOW, realistic_result


def test_sections_and_headline(result: AuditResult) -> None:
    page = render_html(result)
    for anchor in ("headline", "map", "credentials", "backups", "findings", "gaps", "changes"):
        assert f'id="{anchor}"' in page
    # headline numbers: 2 root-equivalent, 2 unrecoverable (redis-data, acme-uploads), 2 same blast radius,
    # 2 never verified
    nums = re.findall(r'<span class="num">(\d+)</span>\s*<span class="lbl">([^<]+)</span>', page)
    labels = {lbl.strip(): int(n) for n, lbl in nums}
    assert labels["root-equivalent credentials"] == 2
    assert labels["datasets unrecoverable if a root-equivalent credential is misused"] == 2
    assert labels["backups in the same blast radius"] == 2
    assert labels["backups never restore-verified"] == 2
    assert "2 datasets with no backup at all" in page


def test_self_contained(result: AuditResult) -> None:
    page = render_html(result)
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", page), "no external resources"
    assert "@import" not in page and "url(" not in page.replace("url(#", "")
    assert "default-src 'none'" in page  # CSP: the browser refuses any fetch
    assert "prefers-color-scheme: dark" in page and "@media print" in page


def test_credential_cards_show_sources_and_remediation(result: AuditResult) -> None:
    page = render_html(result)
    rail = next(c for c in result.credentials if c.kind == "account_token")
    card = page[page.index(f'id="cred-{rail.id}"') :]
    card = card[: card.index("</article>")]
    assert "/home/dev/.claude.json:14" in card and "mcpServers.railway.env.RAILWAY_API_TOKEN" in card
    assert "/home/dev/app/.env:3" in card
    assert "agents read this by design" in card
    assert "Root-equivalent" in card and "Why it is root-equivalent" in card
    assert "redis-data" in card and "no backup survives" in card
    for step in ("Scope it down", "Move it out of agents&#39; reach", "Rotate"):
        assert step in card
    assert rail.fingerprint in card


def test_gaps_are_not_inspected_never_safe(result: AuditResult) -> None:
    page = render_html(result)
    gaps = page[page.index('id="gaps"') : page.index('id="changes"')]
    assert "not inspected" in gaps and "AccessDenied (HTTP 403)" in gaps
    assert "not as safe" in gaps
    assert not re.search(r"\bsafe\b(?! ?\.)", gaps.replace("not as safe", ""))


def test_changes_section(result: AuditResult) -> None:
    page = render_html(result)
    ch = page[page.index('id="changes"') :]
    assert "2026-11-30 18:30 UTC" in ch
    assert "+2 new" in ch and "−1 resolved" in ch
    assert "A Stripe live key was in .env.local." in ch
    # the parameter overrides result.changes
    other = render_html(
        result, previous_changes={"from": {"generated_at": "2026-11-01T00:00:00+00:00"}, "new": [], "resolved": []}
    )
    assert "2026-11-01 00:00 UTC" in other
    baseline = render_html(result.model_copy(update={"changes": None}))
    assert "No earlier audit to compare with" in baseline


def test_verifications_parameter_overrides_backup_fields(result: AuditResult) -> None:
    b = next(b for b in result.backups if b.id == "aws:rds:orders-db:automated")
    page = render_html(
        result,
        verifications={
            b.id: {
                "at": NOW - timedelta(hours=3),
                "outcome": "failed",
                "failure_code": "restore_failed",
                "message": "pg_restore exited 1",
            }
        },
    )
    row = page[page.index("RDS automated snapshots of orders-db</code>") :]
    row = row[: row.index("</tr>")]
    assert "failed" in row and "restore_failed pg_restore exited 1" in row and "3 h ago" in row


def test_autoescape_and_script_block_escaping() -> None:
    nasty = "</script><script>alert(1)</script><!-- & \u2028"
    r = realistic_result(
        extra_findings=(
            Finding.make("x/<b>rule</b>", Severity.high, "subj", nasty, "fix " + nasty, path="/tmp/<i>.env", line=1),
        )
    )
    r = r.model_copy(
        update={
            "resources": r.resources
            + (
                Resource(
                    id="aws:s3:evil",
                    provider="aws",
                    type="bucket",
                    name="<img src=x onerror=alert(1)>",
                    holds_data=True,
                ),
            )
        }
    )
    page = render_html(r)
    assert "<script>alert(1)" not in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    blob = page[page.index('id="findings-data">') :]
    blob = blob[: blob.index("</script>")]
    assert "<" not in blob[len('id="findings-data">') :]
    data = decode_findings_blob(page)
    assert nasty in data["s"]
    assert script_json({"a": "</script>"}) == '{"a":"\\u003c/script\\u003e"}'


def test_empty_result_renders() -> None:
    page = render_html(AuditResult(generated_at=datetime(2026, 1, 1, tzinfo=UTC)))
    assert "No credentials were found" in page
    assert "No earlier audit to compare with" in page


def _many(n_creds: int, n_res: int) -> AuditResult:
    creds, res, backups, exp = [], [], [], []
    for i in range(n_res):
        res.append(Resource(id=f"p:db:{i}", provider="p", type="database", name=f"db-{i}", holds_data=True))
        backups.append(
            Backup(
                id=f"p:b:{i}",
                provider="p",
                protects=f"p:db:{i}",
                location=f"s3://b/{i}",
                same_blast_radius=[True, None, False][i % 3],
            )
        )
    for i in range(n_creds):
        s = Secret(f"value-{i}")
        creds.append(
            Credential(
                id=f"cred-{i:012d}",
                provider="p",
                kind="token",
                fingerprint=s.fingerprint,
                secret=s,
                root_equivalent=i % 2 == 0,
                sources=(Source(path=f"/h/{i}.env", locator="T"),),
            )
        )
        exp.append(
            Exposure(
                credential=creds[-1].id,
                can_destroy=tuple(f"p:db:{(i + k) % n_res}" for k in range(4)),
                unrecoverable=(f"p:db:{i % n_res}",),
            )
        )
    return AuditResult(
        generated_at=NOW, credentials=tuple(creds), resources=tuple(res), backups=tuple(backups), exposure=tuple(exp)
    )


def test_map_collapses_beyond_limits() -> None:
    page = render_html(_many(60, 80))
    svg = page[page.index("<svg") : page.index("</svg>")]
    assert (
        svg.count('class="node ')
        <= GRAPH_LIMITS["credentials"] + GRAPH_LIMITS["resources"] + GRAPH_LIMITS["backups"] + 3
    )
    assert "+48 more credentials" in svg
    assert "more datasets" in svg and "more backups" in svg
    # every credential still has a card
    assert page.count('<article class="card') == 60
    assert "Show 20 more credentials" in page


def test_small_map_is_not_collapsed(result: AuditResult) -> None:
    svg = render_html(result)
    svg = svg[svg.index("<svg") : svg.index("</svg>")]
    assert "more credentials" not in svg and "more datasets" not in svg
    assert svg.count('class="node ') == 3 + 4 + 4  # exposed credentials, their datasets, those backups


def test_large_findings_are_compressed(monkeypatch: pytest.MonkeyPatch, result: AuditResult) -> None:
    monkeypatch.setattr(html_mod, "COMPRESS_ABOVE", 100)
    page = render_html(result)
    assert 'data-encoding="gzip+base64"' in page
    data = decode_findings_blob(page)
    assert len(data["f"]) == len(result.findings)
    assert data["f"][0][2] == 4  # sorted: critical first


def test_folded_cards_are_compressed_when_large(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(html_mod, "FOLD_INLINE_MAX", 0)
    page = render_html(_many(60, 80))
    assert page.count('<article class="card') == html_mod.CARDS_OPEN
    assert 'id="more-cards-data" data-encoding="gzip+base64"' in page
    [folded] = [t for t in html_mod.embedded_texts(page) if "<article" in t]
    assert folded.count('<article class="card') == 60 - html_mod.CARDS_OPEN
    assert "Show 20 more credentials" in page


def test_backups_beyond_the_first_hundred_are_folded(monkeypatch: pytest.MonkeyPatch) -> None:
    page = render_html(_many(5, 150))
    assert "Show 50 more backups" in page
    assert page.count('<tr class="r-') == 150  # small enough: inline
    monkeypatch.setattr(html_mod, "FOLD_INLINE_MAX", 0)
    page = render_html(_many(5, 150))
    assert page.count('<tr class="r-') == 100
    [rows] = [t for t in html_mod.embedded_texts(page) if "<tr" in t]
    assert rows.count('<tr class="r-') == 50
