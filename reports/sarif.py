"""SARIF 2.1.0 for everything Blastwall located in a file, so code-scanning tools show it in place.

Two kinds of results:
  * every `Finding` with a `path` (rule = `Finding.rule`);
  * every file `Source` of a credential (rule `blastwall/root-equivalent-credential` or
    `blastwall/credential-in-file`), unless a finding about that credential already points at that file.
Coverage gaps become tool notifications ("not inspected"). Only fingerprints appear, never values.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from auditor.model import AuditResult, Credential, Finding, Severity, Source

__all__ = ["CREDENTIAL_RULES", "SARIF_SCHEMA_URI", "dumps", "render_sarif"]

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
            rel = p[len(self.base) + 1:] or PurePosixPath(p).name
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


def _credential_result(c: Credential, s: Source, loc: _Locator, rule_id: str, rule_index: int,
                       destroys: int) -> dict[str, Any]:
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
        "properties": {"credential": c.id, "fingerprint": c.fingerprint, "locator": s.locator,
                       "category": s.category.value, "provider": c.provider},
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
        "properties": {"tags": ["security", "blast-radius"], "security-severity": _SECURITY_SEVERITY[sev],
                       "precision": "high"},
    }


def render_sarif(result: AuditResult, *, base: str | None = None) -> dict[str, Any]:
    loc = _Locator(result, base)
    rules: dict[str, int] = {}
    descriptors: list[dict[str, Any]] = []

    def rule_index(rule_id: str, example: Finding | None) -> int:
        idx = rules.get(rule_id)
        if idx is None:
            idx = rules[rule_id] = len(descriptors)
            descriptors.append(_rule_descriptor(rule_id, example))
        return idx

    results: list[dict[str, Any]] = []
    covered: set[tuple[str, str]] = set()  # (subject, path) already reported by a finding
    for f in result.findings:
        if not loc.is_file(f.path):
            continue
        results.append(_finding_result(f, loc, rule_index(f.rule, f)))
        covered.add((f.subject, f.path or ""))

    destroys = {e.credential: len(e.can_destroy) for e in result.exposure}
    for c in result.credentials:
        rule_id = ROOT_RULE if c.root_equivalent else CRED_RULE
        for s in c.sources:
            if not loc.is_file(s.path) or (c.id, s.path) in covered:
                continue
            results.append(_credential_result(c, s, loc, rule_id, rule_index(rule_id, None),
                                              destroys.get(c.id, 0)))

    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "Blastwall",
                "rules": descriptors,
            }
        },
        "invocations": [_invocation(result.coverage_gaps)],
        "results": results,
        "columnKind": "unicodeCodePoints",
        "properties": {"generatedAt": result.generated_at.isoformat(),
                       "schemaVersion": result.schema_version},
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
            "message": {"text": f"Not inspected: {g.subject} — {g.reason}"
                                + (f" ({g.provider})" if g.provider else "")},
            "descriptor": {"id": "blastwall/coverage-gap"},
        }
        for g in gaps
    ]
    inv: dict[str, Any] = {"executionSuccessful": True}
    if notes:
        inv["toolExecutionNotifications"] = notes
    return inv


def dumps(result: AuditResult, *, base: str | None = None) -> str:
    doc = render_sarif(result, base=base)
    if len(doc["runs"][0]["results"]) > 5_000:  # big logs: compact, indentation alone would add ~40 %
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    return json.dumps(doc, indent=2, ensure_ascii=False)
