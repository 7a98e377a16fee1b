"""SARIF 2.1.0 for everything Blastwall located in a file, so code-scanning tools show it in place.

Two kinds of results:
  * every `Finding` with a `path` (rule = `Finding.rule`);
  * every file `Source` of a credential (rule `blastwall/root-equivalent-credential` or
    `blastwall/credential-in-file`), unless a finding about that credential already points at that file.
Coverage gaps become tool notifications ("not inspected"). Only fingerprints appear, never values.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from auditor.model import AuditResult, Credential, Finding, Severity, Source

__all__ = [
    "CREDENTIAL_RULES",
    "MAX_GZIP_BYTES",
    "MAX_RESULTS_PER_RUN",
    "SARIF_SCHEMA_URI",
    "TRUNCATED_RULE",
    "dumps",
    "render_sarif",
]

SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "SRCROOT"

_LEVEL = {
    Severity.critical: "error",
    Severity.high: "error",
    Severity.medium: "warning",
    Severity.low: "note",
    Severity.info: "note",
}
# GitHub code scanning reads `security-severity` (a CVSS-like score) from rule properties.
_SECURITY_SEVERITY = {
    Severity.critical: "9.5",
    Severity.high: "8.0",
    Severity.medium: "5.5",
    Severity.low: "3.0",
    Severity.info: "0.0",
}

# Code-scanning upload limits (GitHub documents them in "SARIF results exceed limit"): an upload with more
# than 25,000 results in a run, or over 10 MB after gzip, is rejected whole; only the top 5,000 results by
# severity are shown. Blastwall keeps one run, most severe results first, and states what it left out.
MAX_RESULTS_PER_RUN = 25_000
MAX_GZIP_BYTES = 10 * 1000 * 1000
_SEVERITY_RANK = {"error": 0, "warning": 1, "note": 2, "none": 3}
FULL_REPORT = "blastwall-report.json"

TRUNCATED_RULE = "blastwall/results-truncated"
ROOT_RULE = "blastwall/root-equivalent-credential"
CRED_RULE = "blastwall/credential-in-file"

CREDENTIAL_RULES: dict[str, dict[str, Any]] = {
    ROOT_RULE: {
        "name": "RootEquivalentCredential",
        "short": "A credential that can destroy data and its backups is stored in this file",
        "full": "This file holds a credential that Blastwall judged root-equivalent: it can delete "
        "data-holding resources, and no backup is known to survive its misuse. Any agent or "
        "process that can read this file can destroy that data.",
        "help": "Scope the credential down to the least privilege the workload needs (read-only or "
        "project-scoped token), move it out of files that AI agents read (MCP/agent configs, "
        "dotenv files in the repository), and rotate it: the value has been readable here.",
        "severity": Severity.critical,
    },
    TRUNCATED_RULE: {
        "name": "ResultsTruncated",
        "short": "More results than code scanning accepts: the least severe were left out of this file",
        "full": "Code-scanning services reject a run with more than 25,000 results or a file over 10 MB "
        "compressed. This SARIF file keeps the most severe results first; the JSON report holds "
        "every finding.",
        "help": "Read the full list in the JSON or HTML report (blastwall-report.json / .html), or narrow "
        "the audit's paths so that fewer results are produced.",
        "severity": Severity.info,
    },
    CRED_RULE: {
        "name": "CredentialInFile",
        "short": "A provider credential is stored in this file",
        "full": "This file holds a credential for a platform Blastwall knows. It was not judged "
        "root-equivalent, but anything that reads this file can act with its permissions.",
        "help": "Prefer short-lived, narrowly scoped credentials loaded from a secret manager or the "
        "platform's login flow; keep them out of files agents read; rotate if it was committed.",
        "severity": Severity.medium,
    },
}


def _title(rule: str) -> str:
    tail = rule.rsplit("/", 1)[-1]
    return "".join(p.capitalize() for p in tail.replace("-", "_").split("_") if p) or "Rule"


class _Locator:
    """Turns report paths into SARIF artifact locations: relative to the scanned root when possible."""

    def __init__(self, result: AuditResult, base: str | None) -> None:
        if base is None:
            paths = result.scope.get("paths") if isinstance(result.scope, dict) else None
            if isinstance(paths, list | tuple) and len(paths) == 1 and isinstance(paths[0], str):
                base = paths[0]
        # Only an absolute scanned root can be stated as a file:// base. Relative report paths are
        # relative to where the audit ran, which is what code-scanning uploads expect: keep them as-is.
        self.base = base.rstrip("/") if base and os.path.isabs(base) else None
        home = result.scope.get("home") if isinstance(result.scope, dict) else None
        self.home = home if isinstance(home, str) and home else None

    def is_file(self, path: str | None) -> bool:
        return bool(path) and path != "env"

    def location(self, path: str) -> dict[str, Any]:
        p = path
        if p.startswith("~/") and self.home:
            p = self.home.rstrip("/") + p[1:]
        if self.base and (p == self.base or p.startswith(self.base + "/")):
            rel = p[len(self.base) + 1 :] or PurePosixPath(p).name
            return {"uri": quote(rel), "uriBaseId": SRCROOT}
        if os.path.isabs(p):
            return {"uri": "file://" + quote(p)}
        return {"uri": quote(p.lstrip("./") if p.startswith("./") else p), "uriBaseId": SRCROOT}

    def original_base(self) -> dict[str, Any]:
        if not self.base:
            return {}
        return {SRCROOT: {"uri": "file://" + quote(self.base + "/")}}


def _physical(loc: _Locator, path: str, line: int | None) -> dict[str, Any]:
    phys: dict[str, Any] = {"artifactLocation": loc.location(path)}
    if line is not None and line >= 1:
        phys["region"] = {"startLine": line}
    return {"physicalLocation": phys}


def _finding_result(f: Finding, loc: _Locator, rule_index: int) -> dict[str, Any]:
    text = f.message
    if f.remediation:
        text += f" Remediation: {f.remediation}"
    res: dict[str, Any] = {
        "ruleId": f.rule,
        "ruleIndex": rule_index,
        "level": _LEVEL[f.severity],
        "message": {"text": text},
        "locations": [_physical(loc, f.path or "", f.line)],
        "partialFingerprints": {"blastwallFindingId/v1": f.id},
        "properties": {"severity": f.severity.value, "subject": f.subject},
    }
    if f.provider:
        res["properties"]["provider"] = f.provider
    return res


def _credential_result(
    c: Credential, s: Source, loc: _Locator, rule_id: str, rule_index: int, destroys: int
) -> dict[str, Any]:
    what = f"{c.provider} {c.kind.replace('_', ' ')} ({c.fingerprint})"
    if c.principal:
        what += f" for {c.principal}"
    text = f"{what} is stored here at `{s.locator}`."
    if rule_id == ROOT_RULE:
        text += " It is root-equivalent"
        if destroys:
            text += f": it can destroy {destroys} dataset(s)"
        text += "."
        if c.reasons:
            text += " " + " ".join(c.reasons[:3])
    text += " Scope it down, move it out of agents' reach, and rotate it."
    return {
        "ruleId": rule_id,
        "ruleIndex": rule_index,
        "level": _LEVEL[CREDENTIAL_RULES[rule_id]["severity"]],
        "message": {"text": text},
        "locations": [_physical(loc, s.path, s.line)],
        "partialFingerprints": {"blastwallCredential/v1": f"{c.id}:{s.locator}"},
        "properties": {
            "credential": c.id,
            "fingerprint": c.fingerprint,
            "locator": s.locator,
            "category": s.category.value,
            "provider": c.provider,
        },
    }


def _rule_descriptor(rule_id: str, example: Finding | None) -> dict[str, Any]:
    if rule_id in CREDENTIAL_RULES:
        spec = CREDENTIAL_RULES[rule_id]
        sev: Severity = spec["severity"]
        name, short, full, helptext = spec["name"], spec["short"], spec["full"], spec["help"]
    else:
        assert example is not None
        sev = example.severity
        name = _title(rule_id)
        short = example.message.split(". ")[0].rstrip(".")[:200] or rule_id
        full = example.message
        helptext = example.remediation or "See the Blastwall HTML report for context."
    return {
        "id": rule_id,
        "name": name,
        "shortDescription": {"text": short},
        "fullDescription": {"text": full},
        "help": {"text": helptext, "markdown": f"**Remediation.** {helptext}"},
        "defaultConfiguration": {"level": _LEVEL[sev]},
        "properties": {
            "tags": ["security", "blast-radius"],
            "security-severity": _SECURITY_SEVERITY[sev],
            "precision": "high",
        },
    }


def render_sarif(
    result: AuditResult, *, base: str | None = None, max_results: int = MAX_RESULTS_PER_RUN
) -> dict[str, Any]:
    """One SARIF run with at most `max_results` results, the most severe first.

    When results are left out, the last result (rule `blastwall/results-truncated`) and
    `run.properties` say how many, and where the full list is.
    """
    if max_results < 2:
        raise ValueError("max_results must leave room for the truncation note")
    loc = _Locator(result, base)
    candidates: list[tuple[str, Finding | None, dict[str, Any]]] = []  # (rule id, example, result)
    covered: set[tuple[str, str]] = set()  # (subject, path) already reported by a finding
    for f in result.findings:
        if not loc.is_file(f.path):
            continue
        candidates.append((f.rule, f, _finding_result(f, loc, -1)))
        covered.add((f.subject, f.path or ""))

    destroys = {e.credential: len(e.can_destroy) for e in result.exposure}
    for c in result.credentials:
        rule_id = ROOT_RULE if c.root_equivalent else CRED_RULE
        for s in c.sources:
            if not loc.is_file(s.path) or (c.id, s.path) in covered:
                continue
            candidates.append((rule_id, None, _credential_result(c, s, loc, rule_id, -1, destroys.get(c.id, 0))))

    total = len(candidates)
    if total > max_results:
        # Stable: within one level the report's own order (findings by severity, then credentials) stays.
        candidates.sort(key=lambda t: _SEVERITY_RANK.get(t[2]["level"], 3))
        kept = candidates[: max_results - 1]
    else:
        kept = candidates

    rules: dict[str, int] = {}
    descriptors: list[dict[str, Any]] = []

    def rule_index(rule_id: str, example: Finding | None) -> int:
        idx = rules.get(rule_id)
        if idx is None:
            idx = rules[rule_id] = len(descriptors)
            descriptors.append(_rule_descriptor(rule_id, example))
        return idx

    results: list[dict[str, Any]] = []
    for rule_id, example, res in kept:
        res["ruleIndex"] = rule_index(rule_id, example)
        results.append(res)
    omitted = total - len(kept)
    properties: dict[str, Any] = {
        "generatedAt": result.generated_at.isoformat(),
        "schemaVersion": result.schema_version,
    }
    if omitted:
        properties.update(
            {"truncated": True, "totalResults": total, "omittedResults": omitted, "fullReport": FULL_REPORT}
        )
        levels = sorted({r["level"] for r in results}, key=lambda lv: _SEVERITY_RANK.get(lv, 3))
        results.append(
            {
                "ruleId": TRUNCATED_RULE,
                "ruleIndex": rule_index(TRUNCATED_RULE, None),
                "level": "note",
                "message": {
                    "text": f"{omitted} of {total} results were left out of this SARIF file to stay within "
                    f"code-scanning limits (kept: the {len(kept)} most severe, levels "
                    f"{', '.join(levels)}). Every finding is in the JSON report ({FULL_REPORT})."
                },
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": FULL_REPORT, "uriBaseId": SRCROOT}}}],
                "partialFingerprints": {"blastwallTruncation/v1": f"{total}:{omitted}"},
                "properties": {"omittedResults": omitted, "totalResults": total, "fullReport": FULL_REPORT},
            }
        )

    run: dict[str, Any] = {
        "tool": {"driver": {"name": "Blastwall", "rules": descriptors}},
        "invocations": [_invocation(result.coverage_gaps)],
        "results": results,
        "columnKind": "unicodeCodePoints",
        "properties": properties,
    }
    if result.tool_version:
        run["tool"]["driver"]["version"] = result.tool_version
        if re.fullmatch(r"\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?", result.tool_version):
            run["tool"]["driver"]["semanticVersion"] = result.tool_version
    bases = loc.original_base()
    if bases:
        run["originalUriBaseIds"] = bases
    return {"$schema": SARIF_SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def _invocation(gaps: Iterable[Any]) -> dict[str, Any]:
    notes = [
        {
            "level": "warning",
            "message": {
                "text": f"Not inspected: {g.subject} — {g.reason}" + (f" ({g.provider})" if g.provider else "")
            },
            "descriptor": {"id": "blastwall/coverage-gap"},
        }
        for g in gaps
    ]
    inv: dict[str, Any] = {"executionSuccessful": True}
    if notes:
        inv["toolExecutionNotifications"] = notes
    return inv


def _serialise(doc: dict[str, Any]) -> str:
    if len(doc["runs"][0]["results"]) > 5_000:  # big logs: compact, indentation alone would add ~40 %
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    return json.dumps(doc, indent=2, ensure_ascii=False)


def dumps(
    result: AuditResult,
    *,
    base: str | None = None,
    max_results: int = MAX_RESULTS_PER_RUN,
    max_gzip_bytes: int = MAX_GZIP_BYTES,
) -> str:
    """The SARIF text, within the result-count and compressed-size limits of code-scanning uploads."""
    limit = max_results
    while True:
        doc = render_sarif(result, base=base, max_results=limit)
        text = _serialise(doc)
        size = len(gzip.compress(text.encode("utf-8"), compresslevel=6))
        n = len(doc["runs"][0]["results"])
        if size <= max_gzip_bytes or limit <= 2:
            return text
        # Shrink in proportion to the overshoot, with a margin; results are of similar size.
        limit = max(2, min(n - 1, int(n * max_gzip_bytes / size * 0.9)))
