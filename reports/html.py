"""The HTML risk report: one self-contained file answering "what could an agent destroy today,
and could we get it back?".

Python builds a plain view model (`build_view`); the Jinja2 template `templates/report.html`
lays it out (autoescaped, strict undefined). Findings can number in the hundreds of thousands,
so they are embedded once as compact JSON (string table + rows) and paged by a small inline
script instead of being rendered as DOM rows. Nothing is fetched: no fonts, images or scripts.
Only fingerprints appear; the model never carries secret values into a report.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from auditor.model import AuditResult, Backup, Credential, Exposure, Finding, Resource, Severity, SourceCategory

__all__ = ["GRAPH_LIMITS", "build_view", "decode_findings_blob", "render_html", "script_json"]

SEVERITIES = ("critical", "high", "medium", "low", "info")
# How many nodes per column the blast-radius map draws before aggregating the rest into "+K more".
GRAPH_LIMITS = {"credentials": 12, "resources": 16, "backups": 16}
CARDS_OPEN = 40  # credential cards shown before the "show more" fold
BACKUPS_OPEN = 100  # backup rows shown before the fold
CHANGES_SHOWN = 100
COMPRESS_ABOVE = 1_000_000  # characters of findings JSON before the blob is gzip+base64 encoded
# Folded (lower-risk) credential cards beyond this much HTML are embedded compressed and unpacked on demand:
# parsing megabytes of cards would otherwise dominate the time until the page is usable.
FOLD_INLINE_MAX = 400_000

_CATEGORY_TEXT = {
    SourceCategory.agent_config: "AI-agent / MCP configuration: agents read this by design",
    SourceCategory.cli_config: "CLI login or config file",
    SourceCategory.dotenv: "dotenv file: loaded into processes, often readable by agents",
    SourceCategory.repository: "file inside a scanned project",
    SourceCategory.environment: "process environment: inherited by every child process and agent",
}


@lru_cache(maxsize=1)
def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("reports"),
        autoescape=select_autoescape(),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["script_json"] = script_json
    env.filters["gzip_b64"] = gzip_b64
    env.filters["num"] = lambda n: f"{n:,}"
    return env


def gzip_b64(text: str) -> str:
    """gzip + base64 (for large embedded blocks the page inflates with DecompressionStream)."""
    return base64.b64encode(gzip.compress(str(text).encode("utf-8"), compresslevel=6, mtime=0)).decode("ascii")


def script_json(obj: Any) -> Markup:
    """JSON safe to place inside <script type="application/json">: `<`, `>`, `&` and the JS line
    separators are \\u-escaped, so `</script>` or `<!--` in any string cannot end or alter the block."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=str)
    text = (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )
    return Markup(text)


def decode_findings_blob(html: str) -> dict[str, Any]:
    """The findings embedded in a rendered report, decoded (for tests and tools)."""
    import re

    m = re.search(
        r'<script type="application/json" id="findings-data"(?: data-encoding="([^"]*)")?>(.*?)</script>',
        html,
        re.DOTALL,
    )
    if not m:
        raise ValueError("no findings block in this HTML")
    encoding, data = m.group(1) or "", m.group(2)
    if encoding == "gzip+base64":
        data = gzip.decompress(base64.b64decode(data)).decode("utf-8")
    elif encoding:
        raise ValueError(f"unknown findings encoding {encoding!r}")
    return dict(json.loads(data))


def embedded_texts(html: str) -> list[str]:
    """Every gzip+base64 block of a rendered report, decoded (findings JSON, folded cards): for tests
    that must see everything the page contains, e.g. canary checks."""
    import re

    return [
        gzip.decompress(base64.b64decode(m)).decode("utf-8")
        for m in re.findall(r'data-encoding="gzip\+base64">([^<]*)</script>', html)
    ]


def render_html(
    result: AuditResult,
    *,
    previous_changes: Mapping[str, Any] | None = None,
    verifications: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """Render the report.

    `previous_changes` overrides `result.changes` (the `report diff --json` shape: from, new, resolved).
    `verifications` maps a Backup.id to its latest restore verification
    ``{at, outcome: "passed"|"failed", failure_code, message}`` and overrides the backup's own fields.
    """
    view = build_view(result, previous_changes=previous_changes, verifications=verifications)
    return _env().get_template("report.html").render(**view)


# ---------------------------------------------------------------------------------------------
# helpers


def _age(then: datetime | None, now: datetime) -> str:
    if then is None:
        return "unknown"
    a, b = then, now
    if (a.tzinfo is None) != (b.tzinfo is None):
        a, b = a.replace(tzinfo=None), b.replace(tzinfo=None)
    secs = (b - a).total_seconds()
    if secs < 0:
        return "in the future"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if secs >= size:
            return f"{int(secs // size)} {unit} ago"
    return "just now"


def _n(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else (plural or word + 's')}"


def _when(iso: str) -> str:
    """An ISO timestamp as '2026-11-30 18:30 UTC' (as given when it does not parse)."""
    try:
        dt = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if dt.tzinfo is not None:
        from datetime import UTC

        dt = dt.astimezone(UTC)
        return dt.strftime("%Y-%m-%d %H:%M UTC")
    return dt.strftime("%Y-%m-%d %H:%M")


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _mcp_via(s: Any) -> str:
    """ "reachable by agent X through MCP server Y, which has destructive tools (…)" for an MCP link."""
    if not getattr(s, "mcp_server", None):
        return ""
    text = f"reachable by {s.agent or 'an AI agent'} through MCP server {s.mcp_server}"
    if s.destructive_tools:
        return text + f", which has destructive tools ({', '.join(s.destructive_tools)})"
    return text + " (no destructive tools documented)"


def _human(kind: str) -> str:
    return kind.replace("_", " ").replace("-", " ")


def _iso(dt: datetime | None) -> str:
    return dt.isoformat(timespec="seconds") if dt else ""


@dataclass
class _Index:
    result: AuditResult
    resources: dict[str, Resource] = field(default_factory=dict)
    backups: dict[str, Backup] = field(default_factory=dict)
    creds: dict[str, Credential] = field(default_factory=dict)
    exposure: dict[str, Exposure] = field(default_factory=dict)
    backups_of: dict[str, list[Backup]] = field(default_factory=lambda: defaultdict(list))

    def __post_init__(self) -> None:
        r = self.result
        self.resources = {x.id: x for x in r.resources}
        self.backups = {x.id: x for x in r.backups}
        self.creds = {x.id: x for x in r.credentials}
        self.exposure = {x.credential: x for x in r.exposure}
        for b in r.backups:
            self.backups_of[b.protects].append(b)

    def name(self, ident: str) -> str:
        if ident in self.resources:
            res = self.resources[ident]
            return f"{res.name} ({_human(res.type)})"
        if ident in self.creds:
            return self.creds[ident].label
        if ident in self.backups:
            return f"backup {self.backups[ident].location}"
        return ident


def _cred_risk(c: Credential, e: Exposure | None) -> tuple[str, int]:
    score = 0
    if e is not None:
        score += 50 * len(e.unrecoverable) + 20 * len(e.possibly_unrecoverable)
        score += 10 * len(e.can_destroy) + 3 * len(e.may_destroy)
    if c.root_equivalent:
        score += 1000
    elif c.root_equivalent is None:
        score += 100  # unknown ranks above known-harmless: it is never "safe"
    if any(s.category in (SourceCategory.agent_config, SourceCategory.environment) for s in c.sources):
        score += 5
    if c.root_equivalent or (e is not None and e.unrecoverable):
        cls = "crit"
    elif c.root_equivalent is None or (e is not None and (e.can_destroy or e.may_destroy)):
        cls = "warn"
    else:
        cls = "ok"
    return cls, score


def _backup_class(b: Backup) -> str:
    return {True: "crit", None: "warn", False: "ok"}[b.same_blast_radius]


# ---------------------------------------------------------------------------------------------
# the view model


def build_view(
    result: AuditResult,
    *,
    previous_changes: Mapping[str, Any] | None = None,
    verifications: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    ix = _Index(result)
    now = result.generated_at
    verifications = verifications or {}

    root = [c for c in result.credentials if c.root_equivalent]
    root_unknown = [c for c in result.credentials if c.root_equivalent is None]
    root_ids = {c.id for c in root}
    lost_by_root: set[str] = set()
    maybe_by_root: set[str] = set()
    lost_any: set[str] = set()
    destroyable_any: set[str] = set()
    maybe_any: set[str] = set()
    for e in result.exposure:
        lost_any.update(e.unrecoverable)
        destroyable_any.update(e.can_destroy)
        destroyable_any.update(e.may_destroy)
        maybe_any.update(e.possibly_unrecoverable)
        if e.credential in root_ids:
            lost_by_root.update(e.unrecoverable)
            maybe_by_root.update(e.possibly_unrecoverable)
    maybe_by_root -= lost_by_root
    maybe_any -= lost_any

    backups = [_backup_row(b, ix, now, verifications.get(b.id)) for b in result.backups]
    same = sum(1 for b in result.backups if b.same_blast_radius is True)
    same_unknown = sum(1 for b in result.backups if b.same_blast_radius is None)
    never_verified = sum(1 for row in backups if not row["verified_at"])
    failed_verification = sum(1 for row in backups if row["verified_outcome"] == "failed")
    unprotected = [r for r in result.resources if r.holds_data and not ix.backups_of.get(r.id)]
    backups.sort(key=lambda row: (row["order"], row["protects_name"].lower()))

    headline = {
        "root": len(root),
        "root_unknown": len(root_unknown),
        "credentials": len(result.credentials),
        "unrecoverable": len(lost_by_root),
        "possibly_unrecoverable": len(maybe_by_root),
        "backups_same": same,
        "backups_unknown": same_unknown,
        "backups": len(result.backups),
        "never_verified": never_verified,
        "failed_verification": failed_verification,
        "datasets": sum(1 for r in result.resources if r.holds_data),
        "destroyable_any": len(destroyable_any),
        "lost_any": len(lost_any),
        "maybe_any": len(maybe_any),
        "unprotected": len(unprotected),
        "gaps": len(result.coverage_gaps),
    }
    cards = _cards(result, ix)
    findings_blob, sev_counts = _findings_blob(result.findings, ix)
    changes = _changes(previous_changes if previous_changes is not None else result.changes, result)
    scope = result.scope if isinstance(result.scope, dict) else {}
    return {
        "title": "Blastwall risk report",
        "generated_at": _iso(now),
        "generated_human": now.strftime("%Y-%m-%d %H:%M %Z").strip(),
        "tool_version": result.tool_version or "",
        "scope_items": _scope_items(scope),
        "headline": headline,
        "verdict": _verdict(headline),
        "graph": _graph(result, ix, cards),
        "cards": cards,
        "cards_open": CARDS_OPEN,
        "fold_inline_max": FOLD_INLINE_MAX,
        "backups_open": BACKUPS_OPEN,
        "backups": backups,
        "unprotected": [
            {"name": r.name, "type": _human(r.type), "provider": r.provider, "id": r.id} for r in unprotected
        ],
        "gaps": [
            {"subject": g.subject, "reason": g.reason, "provider": g.provider or ""} for g in result.coverage_gaps
        ],
        "severities": [{"name": s, "count": sev_counts.get(s, 0)} for s in SEVERITIES],
        "findings_total": len(result.findings),
        "findings_blob": findings_blob,
        "changes": changes,
    }


def _scope_items(scope: Mapping[str, Any]) -> list[dict[str, str]]:
    items = []
    for key, value in scope.items():
        if isinstance(value, list | tuple):
            text = ", ".join(str(v) for v in value) or "none"
        elif isinstance(value, bool):
            text = "yes" if value else "no"
        else:
            text = str(value)
        items.append({"key": _human(str(key)), "value": _short(text, 400)})
    return items


def _verdict(h: Mapping[str, int]) -> str:
    if not h["credentials"]:
        return "No credentials were found in the inspected places."
    parts = []
    if h["destroyable_any"]:
        parts.append(f"The discovered credentials can destroy {_n(h['destroyable_any'], 'dataset')}")
        if h["lost_any"]:
            parts.append(f"for {h['lost_any']} of them no backup would survive")
        elif h["maybe_any"]:
            parts.append(f"for {h['maybe_any']} of them it is not known whether a backup would survive")
        else:
            parts.append("each has a backup outside that credential's reach")
        if h["lost_any"] and h["maybe_any"]:
            parts[-1] += f", for {h['maybe_any']} more it is not known"
        text = "; ".join(parts) + "."
    else:
        text = "None of the discovered credentials is known to be able to destroy a dataset."
    if h["gaps"]:
        text += (
            f" {_n(h['gaps'], 'item')} {'was' if h['gaps'] == 1 else 'were'} not inspected, so this is a lower bound."
        )
    return text


def _backup_row(b: Backup, ix: _Index, now: datetime, ver: Mapping[str, Any] | None) -> dict[str, Any]:
    res = ix.resources.get(b.protects)
    verified_at: str = ""
    outcome = b.last_verification or ""
    detail = ""
    if ver:
        at = ver.get("at")
        verified_at = at.isoformat(timespec="seconds") if isinstance(at, datetime) else str(at or "")
        outcome = str(ver.get("outcome") or "")
        detail = " ".join(str(x) for x in (ver.get("failure_code"), ver.get("message")) if x)
    elif b.last_verified_at:
        verified_at = _iso(b.last_verified_at)
    verified_age = ""
    if ver and isinstance(ver.get("at"), datetime):
        verified_age = _age(ver["at"], now)
    elif not ver and b.last_verified_at:
        verified_age = _age(b.last_verified_at, now)
    cls = _backup_class(b)
    return {
        "id": b.id,
        "protects_name": res.name if res else b.protects,
        "protects_type": _human(res.type) if res else "",
        "provider": b.provider,
        "location": b.location,
        "kind": _human(b.kind),
        "same": {True: "yes", None: "unknown", False: "no"}[b.same_blast_radius],
        "cls": cls,
        "reasons": list(b.reasons),
        "created_at": _iso(b.created_at),
        "age": _age(b.created_at, now),
        "verified_at": verified_at,
        "verified_age": verified_age,
        "verified_outcome": outcome,
        "verified_detail": detail,
        "order": {"crit": 0, "warn": 1, "ok": 2}[cls],
    }


def _remediation(c: Credential, e: Exposure | None, ix: _Index, related: Iterable[Finding]) -> list[dict[str, str]]:
    destroy_caps = [
        x
        for x in c.capabilities
        if any(w in x.lower() for w in ("delete", "destroy", "remove", "terminate", "admin")) or x.endswith("*")
    ]
    scope_txt = "Replace it with a credential that has only what the workload needs"
    if destroy_caps:
        scope_txt += f" (drop {', '.join(destroy_caps[:4])}{' …' if len(destroy_caps) > 4 else ''})"
    scope_txt += "; prefer read-only or project-scoped tokens."
    reach = sorted({s.category for s in c.sources}, key=lambda x: x.value)
    places = [s.path for s in c.sources]
    if any(
        cat
        in (SourceCategory.agent_config, SourceCategory.environment, SourceCategory.dotenv, SourceCategory.repository)
        for cat in reach
    ):
        move_txt = (
            "It sits where agents and tools read it ("
            + ", ".join(_short(p, 60) for p in places[:3])
            + (" …" if len(places) > 3 else "")
            + "). Load it from a secret manager or a login flow "
            "at the moment it is needed, or give agents a separate, narrower token."
        )
    else:
        move_txt = "Keep it out of files that AI agents and build tools can read; load it only where needed."
    rotate_txt = (
        f"Rotate it at the provider and revoke fingerprint {c.fingerprint}: it has been readable in "
        f"{_n(len(c.sources), 'place')}."
    )
    steps = [
        {"title": "Scope it down", "text": scope_txt},
        {"title": "Move it out of agents' reach", "text": move_txt},
        {"title": "Rotate", "text": rotate_txt},
    ]
    seen: set[str] = set()
    for f in related:
        if f.remediation and f.remediation not in seen and len(seen) < 3:
            seen.add(f.remediation)
            steps.append({"title": f"Fix for {f.rule}", "text": f.remediation})
    return steps


_NOT_DESTRUCTIVE = {"read:server-files", "read:replication-stream"}
# shown in the card's Database block instead of the generic metadata list
_DB_META = {
    "db",
    "engine",
    "host",
    "port",
    "database",
    "user",
    "platform",
    "platform_label",
    "database_resource",
    "tls",
}


def _db_view(c: Credential, ix: _Index) -> dict[str, Any] | None:
    """The database part of a credential card: role, the grants that make it dangerous, the database and the
    resource that holds it, every verdict on that database, and least-privilege SQL. Never the password."""
    db = c.metadata.get("db")
    rid = c.metadata.get("database_resource")
    if not isinstance(db, dict) and not rid:
        return None
    db = db if isinstance(db, dict) else {}
    res = ix.resources.get(str(rid)) if rid else None
    if res is None and rid:  # merged into another database resource (two URLs, one database)
        res = next((r for r in ix.resources.values() if str(rid) in (r.metadata.get("aliases") or ())), None)
    container = ix.resources.get(res.container) if res is not None and res.container else None
    verdicts = []
    for v in ix.result.verdicts:
        if res is None or v.database != res.id:
            continue
        other = ix.creds.get(v.credential)
        verdicts.append(
            {
                "text": v.text,
                "cls": "crit" if v.verdict and not v.survivors else ("warn" if v.verdict is not False else "ok"),
                "kind": v.kind,
                "mine": v.credential == c.id,
                "anchor": "cred-" + v.credential.replace(":", "-") if other else "",
            }
        )
    verdicts.sort(key=lambda x: (not x["mine"], x["kind"]))
    return {
        "role": db.get("role") or c.metadata.get("user") or "",
        "summary": db.get("summary") or "",
        "engine": c.metadata.get("engine") or "",
        "database": (res.name if res else c.metadata.get("database")) or "",
        "database_id": res.id if res else (rid or ""),
        "placement": c.metadata.get("platform_label") or "",
        "container": f"{container.name} ({_human(container.type)}, {container.provider})" if container else "",
        "container_id": container.id if container else "",
        "grants": [g for g in db.get("grants") or [] if g.get("capability") not in _NOT_DESTRUCTIVE][:12],
        "verdicts": verdicts,
        "sql": "\n".join(db.get("remediation_sql") or []),
    }


def _cards(result: AuditResult, ix: _Index) -> list[dict[str, Any]]:
    related: dict[str, list[Finding]] = defaultdict(list)
    for f in result.findings:
        if f.subject in ix.creds and len(related[f.subject]) < 5:
            related[f.subject].append(f)
    cards: list[dict[str, Any]] = []
    for c in result.credentials:
        e = ix.exposure.get(c.id)
        cls, score = _cred_risk(c, e)
        lost = set(e.unrecoverable) if e else set()
        maybe = set(e.possibly_unrecoverable) if e else set()

        def target(rid: str, definite: bool, lost: set[str] = lost, maybe: set[str] = maybe) -> dict[str, str]:
            res = ix.resources.get(rid)
            if rid in lost:
                fate, fcls = "no backup survives", "crit"
            elif rid in maybe:
                fate, fcls = "backup survival unknown", "warn"
            else:
                fate, fcls = "a backup survives", "ok"
            return {
                "name": res.name if res else rid,
                "type": _human(res.type) if res else "",
                "id": rid,
                "definite": "yes" if definite else "maybe",
                "fate": fate,
                "cls": fcls,
            }

        targets = [target(r, True) for r in (e.can_destroy if e else ())] + [
            target(r, False) for r in (e.may_destroy if e else ())
        ]
        targets.sort(key=lambda t: ({"crit": 0, "warn": 1, "ok": 2}[t["cls"]], t["definite"] != "yes", t["name"]))
        if c.root_equivalent:
            verdict = "Root-equivalent"
        elif c.root_equivalent is None:
            verdict = "Not determined"
        else:
            verdict = "Not root-equivalent"
        cards.append(
            {
                "id": c.id,
                "anchor": "cred-" + c.id.replace(":", "-"),
                "title": f"{c.provider} · {_human(c.kind)}",
                "provider": c.provider,
                "kind": _human(c.kind),
                "fingerprint": c.fingerprint,
                "status": c.status.value,
                "principal": c.principal or "",
                "cls": cls,
                "score": score,
                "verdict": verdict,
                "sources": [
                    {
                        "path": s.path,
                        "locator": s.locator,
                        "line": s.line or "",
                        "category": _CATEGORY_TEXT.get(s.category, s.category.value),
                        "agent": s.category in (SourceCategory.agent_config, SourceCategory.environment),
                        "via": _mcp_via(s),
                    }
                    for s in c.sources
                ],
                "capabilities": list(c.capabilities),
                "possible": list(c.possible_capabilities),
                "reasons": list(c.reasons),
                "targets": targets,
                "n_lost": len(lost),
                "metadata": [
                    {"key": str(k), "value": _short(str(v), 200)}
                    for k, v in sorted(c.metadata.items())
                    if v not in (None, "", [], {}) and k not in _DB_META
                ][:12],
                "db": _db_view(c, ix),
                "remediation": _remediation(c, e, ix, related.get(c.id, ())),
                "search": " ".join(
                    [c.provider, c.kind, c.fingerprint, c.principal or "", c.id]
                    + [s.path + " " + s.locator for s in c.sources]
                ).lower(),
            }
        )
    cards.sort(key=lambda x: (-x["score"], x["title"], x["id"]))
    return cards


def _findings_blob(findings: Iterable[Finding], ix: _Index) -> tuple[dict[str, Any], Counter[str]]:
    """{s: [strings], f: [[id, rule, sev, subject, anchor, message, remediation, provider, path, line]]}.
    Strings are interned in one table; severity is a rank 4 (critical) … 0 (info).

    Large blobs are gzip-compressed and base64-encoded (the page inflates them with the browser's
    built-in DecompressionStream): 100k findings shrink from ~15 MB to ~3 MB of HTML."""
    # dict insertion order is the index order: setdefault(v, len(table)) interns in one call (hot loop).
    table: dict[str, int] = {"": 0}
    sd = table.setdefault
    rank = {sev: sev.rank for sev in Severity}
    anchors = {cid: "cred-" + cid.replace(":", "-") for cid in ix.creds}
    labels: dict[str, str] = {}
    rows: list[list[Any]] = []
    counts: Counter[str] = Counter()
    ordered = sorted(findings, key=lambda f: (-rank[f.severity], f.rule, f.subject))
    for f in ordered:
        subject = f.subject
        label = labels.get(subject)
        if label is None:
            label = labels[subject] = ix.name(subject)
        rows.append(
            [
                f.id,
                sd(f.rule, len(table)),
                rank[f.severity],
                sd(label, len(table)),
                sd(anchors.get(subject, ""), len(table)),
                sd(f.message, len(table)),
                sd(f.remediation, len(table)),
                sd(f.provider or "", len(table)),
                sd(f.path or "", len(table)),
                f.line or 0,
            ]
        )
    for sev, n in Counter(f.severity for f in ordered).items():
        counts[sev.value] = n
    strings = list(table)
    text = script_json({"s": strings, "f": rows})
    if len(text) <= COMPRESS_ABOVE:
        return {"encoding": "", "data": text}, counts
    return {"encoding": "gzip+base64", "data": gzip_b64(text)}, counts


def _finding_view(f: Mapping[str, Any]) -> dict[str, str]:
    sev = str(f.get("severity") or "info")
    loc = str(f.get("path") or "")
    if loc and f.get("line"):
        loc += f":{f['line']}"
    return {
        "id": str(f.get("id") or ""),
        "severity": sev if sev in SEVERITIES else "info",
        "rule": str(f.get("rule") or ""),
        "subject": str(f.get("subject") or ""),
        "message": str(f.get("message") or ""),
        "location": loc,
    }


def _changes(changes: Mapping[str, Any] | None, result: AuditResult) -> dict[str, Any] | None:
    if not changes:
        return None
    current = {f.id: f for f in result.findings}

    def items(key: str) -> list[dict[str, str]]:
        out = []
        for item in changes.get(key) or ():
            if isinstance(item, str):  # a bare finding id
                f = current.get(item)
                out.append(_finding_view(f.model_dump(mode="json")) if f else _finding_view({"id": item}))
            elif isinstance(item, Mapping):
                out.append(_finding_view(item))
        return out

    new, resolved = items("new"), items("resolved")
    raw_counts = changes.get("counts")
    counts: Mapping[str, Any] = raw_counts if isinstance(raw_counts, Mapping) else {}
    n_new = int(counts.get("new", len(new)))  # lists may be truncated (to_dict(limit=…)); counts are not
    n_resolved = int(counts.get("resolved", len(resolved)))
    prev = changes.get("from") or changes.get("previous") or {}
    since = prev.get("generated_at", "") if isinstance(prev, Mapping) else str(prev)
    if not since:
        since = str(changes.get("since") or "")
    return {
        "since": _when(since) if since else "",
        "baseline": not prev and not changes.get("since"),
        "n_new": n_new,
        "n_resolved": n_resolved,
        "new": new[:CHANGES_SHOWN],
        "resolved": resolved[:CHANGES_SHOWN],
        "new_more": max(0, n_new - min(len(new), CHANGES_SHOWN)),
        "resolved_more": max(0, n_resolved - min(len(resolved), CHANGES_SHOWN)),
    }


# ---------------------------------------------------------------------------------------------
# blast-radius map: credential → resource → backup, laid out in three columns


NODE_W, NODE_H, GAP, COL_X, PAD = 280, 30, 10, (10, 440, 870), 34


def _graph(result: AuditResult, ix: _Index, cards: list[dict[str, Any]]) -> dict[str, Any]:
    lim = GRAPH_LIMITS
    exposed = [c for c in cards if c["targets"] or c["verdict"] == "Root-equivalent"]
    shown_creds = exposed[: lim["credentials"]]
    hidden_creds = exposed[lim["credentials"] :]

    res_risk: dict[str, int] = {}
    for ex in result.exposure:
        for rid in ex.unrecoverable:
            res_risk[rid] = max(res_risk.get(rid, 0), 3)
        for rid in ex.possibly_unrecoverable:
            res_risk[rid] = max(res_risk.get(rid, 0), 2)
        for rid in (*ex.can_destroy, *ex.may_destroy):
            res_risk[rid] = max(res_risk.get(rid, 0), 1)
    cred_rank = {c["id"]: i for i, c in enumerate(shown_creds)}
    reach: dict[str, list[str]] = {}
    for c in shown_creds:
        e = ix.exposure.get(c["id"])
        reach[c["id"]] = list(dict.fromkeys((*e.can_destroy, *e.may_destroy))) if e else []
    candidates: dict[str, float] = {}
    for rids in reach.values():  # datasets of the credentials drawn come first …
        for rid in rids:
            candidates.setdefault(rid, 0)
    shown_first = len(candidates)
    for ex in result.exposure:  # … then everything else some credential reaches, for the "+K more" count
        for rid in (*ex.can_destroy, *ex.may_destroy):
            candidates.setdefault(rid, 0)
    if not candidates:  # nothing reachable: still show the data and where its backups live
        for res in result.resources:
            if res.holds_data:
                candidates[res.id] = 0
    keys = list(candidates)

    def rank(r: str) -> tuple[int, int, int, str]:
        return (-res_risk.get(r, 0), -len(ix.backups_of.get(r, ())), 0, ix.name(r))

    ranked = sorted(keys[:shown_first], key=rank) + sorted(keys[shown_first:], key=rank)
    shown_res = ranked[: lim["resources"]]
    hidden_res = ranked[lim["resources"] :]
    # Order resources by the mean position of the credentials that reach them: fewer crossings.
    pos: dict[str, float] = {}
    for r in shown_res:
        idx = [cred_rank[c] for c, rids in reach.items() if r in rids]
        pos[r] = sum(idx) / len(idx) if idx else len(shown_creds)
    shown_res.sort(key=lambda r: (pos[r], -res_risk.get(r, 0)))

    shown_b: list[Backup] = []
    hidden_b = 0
    for r in shown_res:
        for b in sorted(ix.backups_of.get(r, ()), key=lambda b: _backup_class(b) != "crit"):
            if len(shown_b) < lim["backups"]:
                shown_b.append(b)
            else:
                hidden_b += 1
    hidden_b += sum(len(ix.backups_of.get(r, ())) for r in hidden_res)

    nodes: list[dict[str, Any]] = []
    pos_of: dict[str, tuple[float, float]] = {}

    def place(
        col: int, i: int, key: str, label: str, sub: str, cls: str, href: str, tip: str, more: bool = False
    ) -> None:
        x, y = COL_X[col], PAD + i * (NODE_H + GAP)
        nodes.append(
            {
                "x": x,
                "y": y,
                "w": NODE_W,
                "h": NODE_H,
                "label": _short(label, 36),
                "sub": _short(sub, 46),
                "cls": cls + (" more" if more else ""),
                "href": href,
                "tip": tip,
            }
        )
        pos_of[key] = (x, y + NODE_H / 2)

    for i, c in enumerate(shown_creds):
        tip = (
            f"{c['title']} {c['fingerprint']} — {c['verdict']}; can destroy {len(c['targets'])}, "
            f"unrecoverable {c['n_lost']}"
        )
        place(0, i, c["id"], c["title"], c["fingerprint"], c["cls"], "#" + c["anchor"], tip)
    if hidden_creds:
        place(
            0,
            len(shown_creds),
            "__more_creds",
            f"+{len(hidden_creds)} more credentials",
            "see cards below",
            "warn" if any(c["cls"] != "ok" for c in hidden_creds) else "ok",
            "#credentials",
            f"{len(hidden_creds)} more credentials with lower risk",
            more=True,
        )
    res_cls = {3: "crit", 2: "warn", 1: "ok", 0: "ok"}
    for i, r in enumerate(shown_res):
        node_res = ix.resources.get(r)
        name = node_res.name if node_res else r
        sub = (_human(node_res.type) + " · " + node_res.provider) if node_res else ""
        fate = {
            3: "no backup survives some credential",
            2: "backup survival unknown",
            1: "a backup survives",
            0: "not reachable by a discovered credential",
        }[res_risk.get(r, 0)]
        place(1, i, r, name, sub, res_cls[res_risk.get(r, 0)], "#backups", f"{name}: {fate}")
    if hidden_res:
        place(
            1,
            len(shown_res),
            "__more_res",
            f"+{len(hidden_res)} more datasets",
            "aggregated",
            res_cls[max((res_risk.get(r, 0) for r in hidden_res), default=0)],
            "#backups",
            f"{len(hidden_res)} more datasets",
            more=True,
        )
    for i, b in enumerate(shown_b):
        same = {True: "same blast radius", None: "blast radius unknown", False: "independent"}[b.same_blast_radius]
        place(
            2, i, b.id, b.location, f"{_human(b.kind)} · {same}", _backup_class(b), "#backups", f"{b.location}: {same}"
        )
    if hidden_b:
        place(
            2,
            len(shown_b),
            "__more_b",
            f"+{hidden_b} more backups",
            "aggregated",
            "warn",
            "#backups",
            f"{hidden_b} more backups",
            more=True,
        )

    edges: list[dict[str, Any]] = []

    def edge(a: str, b: str, cls: str, dashed: bool = False) -> None:
        if a not in pos_of or b not in pos_of:
            return
        (x1, y1), (x2, y2) = pos_of[a], pos_of[b]
        x1 += NODE_W
        mid = (x1 + x2) / 2
        edges.append(
            {
                "d": f"M{x1:.0f},{y1:.0f} C{mid:.0f},{y1:.0f} {mid:.0f},{y2:.0f} {x2:.0f},{y2:.0f}",
                "cls": cls,
                "dashed": dashed,
            }
        )

    seen: set[tuple[str, str]] = set()
    shown_res_set = set(shown_res)
    for c in shown_creds:
        e = ix.exposure.get(c["id"])
        if not e:
            continue
        lost = set(e.unrecoverable)
        for r, definite in [(r, True) for r in e.can_destroy] + [(r, False) for r in e.may_destroy]:
            tgt = r if r in shown_res_set else "__more_res"
            if (c["id"], tgt) in seen:
                continue
            seen.add((c["id"], tgt))
            edge(c["id"], tgt, "crit" if r in lost else ("warn" if not definite else "hot"), dashed=not definite)
    for c in hidden_creds:
        e = ix.exposure.get(c["id"])
        for r in (*e.can_destroy, *e.may_destroy) if e else ():
            tgt = r if r in shown_res_set else "__more_res"
            if ("__more_creds", tgt) not in seen:
                seen.add(("__more_creds", tgt))
                edge("__more_creds", tgt, "muted", dashed=True)
    for b in shown_b:
        edge(b.protects, b.id, _backup_class(b))
    if hidden_b:
        for r in [*shown_res, "__more_res"]:
            if any(b.id not in {x.id for x in shown_b} for b in ix.backups_of.get(r, ())) or (
                r == "__more_res" and hidden_res
            ):
                edge(r, "__more_b", "muted", dashed=True)

    rows = max([sum(1 for n in nodes if n["x"] == x) for x in COL_X] + [1])
    return {
        "nodes": nodes,
        "edges": edges,
        "width": COL_X[2] + NODE_W + 10,
        "height": PAD + rows * (NODE_H + GAP) + 10,
        "cols": [
            {"x": COL_X[0], "label": "Credentials"},
            {"x": COL_X[1], "label": "Datasets they can destroy"},
            {"x": COL_X[2], "label": "Backups of those datasets"},
        ],
        "empty": not nodes,
        "truncated": bool(hidden_creds or hidden_res or hidden_b),
    }
