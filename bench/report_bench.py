"""Report scale benchmark: 100,000 findings and 2,000 credentials.

Measures, for a generated result:
  * HTML render time and file size (targets: < 30 s, < 25 MB);
  * time until the page is interactive in headless Chromium (target: < 5 s), i.e. until the report's
    script has parsed the embedded findings and rendered the first page (`data-ready`);
  * one full-text search over all findings in the browser;
  * JSON and SARIF render times and sizes, and the `report render` path (load JSON + render HTML).

Run:  .venv/bin/python -m bench report [--findings N] [--credentials N] [--out DIR]
      (or .venv/bin/python -m bench.report_bench …). Exits 1 when a target is missed.
Not run in CI. Needs /usr/bin/chromium for the browser numbers (skipped otherwise).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from auditor.model import (
    AuditResult,
    Backup,
    CoverageGap,
    Credential,
    Exposure,
    Finding,
    Resource,
    Severity,
    Source,
    SourceCategory,
    Status,
)
from auditor.secrets import Secret

PROVIDERS = ["railway", "aws", "github", "supabase", "neon", "vercel", "cloudflare", "digitalocean", "fly", "render"]
KINDS = ["api_token", "access_key", "project_token", "service_role_key", "personal_access_token"]
RULES = [
    f"blastwall/{name}"
    for name in (
        "root-equivalent-in-agent-config",
        "secret-in-dotenv",
        "secret-in-repository",
        "admin-access-key",
        "token-in-cli-config",
        "backup-same-blast-radius",
        "backup-never-verified",
        "verification-failed",
        "no-backup",
        "stale-backup",
        "long-lived-key",
        "wildcard-scope",
        "public-bucket",
        "no-object-lock",
        "shared-account-token",
        "provider-unavailable",
        "key-never-rotated",
        "mfa-disabled",
        "env-inherited",
        "world-readable-config",
    )
]
SEVS = [Severity.critical, Severity.high, Severity.medium, Severity.low, Severity.info]
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def generate(
    n_findings: int = 100_000, n_creds: int = 2_000, n_resources: int = 3_000, n_backups: int = 2_500, seed: int = 7
) -> AuditResult:
    rnd = random.Random(seed)
    paths = [
        f"/home/dev/projects/app{i % 400}/{rnd.choice(['.env', 'config/ci.env', '.mcp.json', 'deploy/secrets.yaml', '.npmrc'])}"
        for i in range(5_000)
    ]
    resources = []
    for i in range(n_resources):
        p = PROVIDERS[i % len(PROVIDERS)]
        resources.append(
            Resource(
                id=f"{p}:db:{i}",
                provider=p,
                type=rnd.choice(["database", "volume", "bucket"]),
                name=f"{p}-data-{i}",
                holds_data=True,
            )
        )
    by_provider: dict[str, list[Resource]] = {}
    for r in resources:
        by_provider.setdefault(r.provider, []).append(r)
    backups = []
    for i in range(n_backups):
        r = resources[i % n_resources]
        same = rnd.choice([True, True, None, False])
        backups.append(
            Backup(
                id=f"{r.provider}:backup:{i}",
                provider=r.provider,
                protects=r.id,
                location=f"s3://backups-{i % 50}/{r.name}/" if same is not True else f"inside {r.name}",
                created_at=NOW - timedelta(hours=rnd.randint(1, 400)),
                dies_with_resource=same is True,
                same_blast_radius=same,
                reasons=("Generated for the benchmark.",),
                last_verified_at=NOW - timedelta(days=rnd.randint(1, 30)) if rnd.random() < 0.3 else None,
                last_verification=rnd.choice(["passed", "failed"]) if rnd.random() < 0.3 else None,
            )
        )
    creds, exposure = [], []
    for i in range(n_creds):
        p = PROVIDERS[i % len(PROVIDERS)]
        secret = Secret(f"bench-secret-{seed}-{i}-{rnd.random()}")
        srcs = tuple(
            Source(
                path=rnd.choice(paths),
                locator=f"mcpServers.{p}.env.TOKEN_{j}",
                line=rnd.randint(1, 200),
                category=rnd.choice(list(SourceCategory)[:4]),
            )
            for j in range(rnd.randint(1, 3))
        )
        root = rnd.random() < 0.2
        creds.append(
            Credential(
                id=f"cred-{i:012x}",
                provider=p,
                kind=rnd.choice(KINDS),
                fingerprint=secret.fingerprint,
                secret=secret,
                status=Status.verified,
                principal=f"user-{i}@example.com",
                sources=srcs,
                capabilities=("delete:volume", "delete:project") if root else ("read:project",),
                root_equivalent=root if rnd.random() < 0.9 else None,
                reasons=("Account-wide token with delete rights.",) if root else ("Read-only scope.",),
            )
        )
        pool = by_provider[p]
        can = tuple(r.id for r in rnd.sample(pool, rnd.randint(0, 6)))
        may = tuple(r.id for r in rnd.sample(pool, rnd.randint(0, 2)))
        if can or may:
            exposure.append(
                Exposure(
                    credential=creds[-1].id,
                    can_destroy=can,
                    may_destroy=may,
                    unrecoverable=can[: len(can) // 2],
                    possibly_unrecoverable=may,
                )
            )
    subjects = [c.id for c in creds] + [r.id for r in resources] + [b.id for b in backups]
    findings = []
    for i in range(n_findings):
        rule = RULES[i % len(RULES)]
        subj = rnd.choice(subjects)
        path = rnd.choice(paths) if rnd.random() < 0.7 else None
        findings.append(
            Finding(
                id=f"{i:016x}",
                rule=rule,
                severity=rnd.choices(SEVS, weights=[2, 8, 30, 40, 20])[0],
                subject=subj,
                message=f"{rule.split('/')[1].replace('-', ' ').capitalize()} for {subj} (occurrence {i}, "
                f"{rnd.randint(1, 999)} related objects).",
                remediation=f"Apply the documented fix for {rule}.",
                provider=subj.split(":")[0] if ":" in subj else None,
                path=path,
                line=rnd.randint(1, 400) if path else None,
            )
        )
    gaps = tuple(
        CoverageGap(subject=f"{p} inventory", reason="HTTP 403 on list endpoint", provider=p) for p in PROVIDERS[:4]
    )
    return AuditResult(
        generated_at=NOW,
        tool_version="bench",
        scope={"home": "/home/dev", "paths": ["/home/dev/projects"]},
        credentials=tuple(creds),
        resources=tuple(resources),
        backups=tuple(backups),
        findings=tuple(findings),
        exposure=tuple(exposure),
        coverage_gaps=gaps,
    )


def _timed(label: str, fn, results: dict):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    value = fn()
    results[label] = round(time.perf_counter() - t, 3)
    return value


def browser_metrics(html_path: Path) -> dict[str, float]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.support.chromium import Chromium, find_chromium

    binary = find_chromium()
    if binary is None:
        return {}
    browser = Chromium(binary)
    try:
        page = browser.new_page()
        t0 = time.perf_counter()
        page.navigate(html_path.as_uri(), timeout=120)
        page.wait_for("document.documentElement.dataset.ready", timeout=120, interval=0.02)
        wall = time.perf_counter() - t0
        script_ready_ms = page.evaluate("window.__blastwallReady")
        nav = page.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0].toJSON())")
        nav_d = json.loads(nav) if nav else {}
        search_ms = page.evaluate(
            "(() => { const q = document.getElementById('f-q'); const t = performance.now();"
            " q.value = 'occurrence 9999'; q.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter'}));"
            " return performance.now() - t; })()"
        )
        matched = page.evaluate("document.getElementById('f-status').textContent")
        sev_ms = page.evaluate(
            "(() => { const b = document.querySelector('input[name=sev][value=medium]'); const t = performance.now();"
            " b.click(); return performance.now() - t; })()"
        )
        out = {
            "interactive_wall_s": round(wall, 3),
            "interactive_script_ms": round(float(script_ready_ms or 0), 1),
            "dom_content_loaded_ms": round(float(nav_d.get("domContentLoadedEventEnd", 0)), 1),
            "load_event_ms": round(float(nav_d.get("loadEventEnd", 0)), 1),
            "search_all_ms": round(float(search_ms or 0), 1),
            "severity_toggle_ms": round(float(sev_ms or 0), 1),
            "errors": len(page.errors),
            "requests_other_than_document": len([u for u in page.requests if u != html_path.as_uri()]),
        }
        print(f"  search result: {matched}")
        return out
    finally:
        browser.close()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--findings", type=int, default=100_000)
    ap.add_argument("--credentials", type=int, default=2_000)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="bw-bench-"))
    out.mkdir(parents=True, exist_ok=True)

    from reports.html import render_html
    from reports.interface import write_reports
    from reports.json_report import dumps as json_dumps
    from reports.json_report import load_json
    from reports.sarif import dumps as sarif_dumps

    t: dict[str, float] = {}
    result = _timed("generate_s", lambda: generate(args.findings, args.credentials), t)
    html = _timed("render_html_s", lambda: render_html(result), t)
    html_path = out / "blastwall-report.html"
    html_path.write_text(html, encoding="utf-8")
    sarif = _timed("render_sarif_s", lambda: sarif_dumps(result), t)
    js = _timed("render_json_s", lambda: json_dumps(result), t)
    (out / "blastwall-report.json").write_text(js)
    loaded = _timed("load_json_s", lambda: load_json(out / "blastwall-report.json"), t)
    _timed("report_render_html_from_json_s", lambda: write_reports(loaded, ["html"], out / "rerender"), t)
    sizes = {
        "html_mb": round(len(html.encode()) / 1e6, 2),
        "sarif_mb": round(len(sarif.encode()) / 1e6, 2),
        "json_mb": round(len(js.encode()) / 1e6, 2),
    }
    print(
        f"generated {len(result.findings):,} findings, {len(result.credentials):,} credentials, "
        f"{len(result.resources):,} resources, {len(result.backups):,} backups -> {out}"
    )
    b = browser_metrics(html_path)
    report = {
        "timings": t,
        "sizes": sizes,
        "browser": b,
        "targets": {"render_html_s": 30, "html_mb": 25, "interactive_wall_s": 5},
    }
    print(json.dumps(report, indent=2))
    ok = t["render_html_s"] < 30 and sizes["html_mb"] < 25 and (not b or b["interactive_wall_s"] < 5)
    print("PASS" if ok else "FAIL")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
