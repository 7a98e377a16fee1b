"""JSON report, schema_version 1. Other tools read it: keep these keys stable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from auditor.model import (
    AuditResult,
    Backup,
    CoverageGap,
    Credential,
    DestroyVerdict,
    Exposure,
    Finding,
    Resource,
    Source,
)
from auditor.secrets import Secret

__all__ = ["render_json", "dumps", "load_json"]


def _cred(c: Credential) -> dict[str, Any]:
    return {
        "id": c.id,
        "provider": c.provider,
        "kind": c.kind,
        "fingerprint": c.fingerprint,
        "status": c.status.value,
        "principal": c.principal,
        "sources": [
            {"path": s.path, "locator": s.locator, "line": s.line, "category": s.category.value} for s in c.sources
        ],
        "capabilities": list(c.capabilities),
        "possible_capabilities": list(c.possible_capabilities),
        "root_equivalent": c.root_equivalent,
        "reasons": list(c.reasons),
        "metadata": c.metadata,
    }


def render_json(result: AuditResult) -> dict[str, Any]:
    return {
        "schema_version": result.schema_version,
        "generated_at": result.generated_at.isoformat(),
        "tool_version": result.tool_version,
        "scope": result.scope,
        "credentials": [_cred(c) for c in result.credentials],
        "resources": [r.model_dump(mode="json") for r in result.resources],
        "backups": [b.model_dump(mode="json") for b in result.backups],
        "findings": [f.model_dump(mode="json") for f in result.findings],
        "exposure": [e.model_dump(mode="json") for e in result.exposure],
        "verdicts": [v.model_dump(mode="json") for v in result.verdicts],
        "coverage_gaps": [g.model_dump(mode="json") for g in result.coverage_gaps],
        "stats": result.stats,
        "changes": result.changes,
    }


def dumps(result: AuditResult) -> str:
    return json.dumps(render_json(result), indent=2, default=str)


_REDACTED = Secret("<not stored in reports>")


def load_json(path: str | Path) -> AuditResult:
    """Load a saved report. Secrets are not in reports, so credentials come back without them."""
    from auditor.errors import BlastwallError

    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise BlastwallError(f"cannot read report {path}: {exc}") from None
    if not isinstance(doc, dict) or doc.get("schema_version") != 1:
        raise BlastwallError(f"{path} is not a Blastwall JSON report with schema_version 1")
    try:
        creds = tuple(
            Credential(
                id=c["id"],
                provider=c["provider"],
                kind=c["kind"],
                fingerprint=c["fingerprint"],
                status=c["status"],
                principal=c.get("principal"),
                sources=tuple(Source(**{k: v for k, v in s.items() if v is not None}) for s in c.get("sources", [])),
                capabilities=tuple(c.get("capabilities", [])),
                possible_capabilities=tuple(c.get("possible_capabilities", [])),
                root_equivalent=c.get("root_equivalent"),
                reasons=tuple(c.get("reasons", [])),
                metadata=c.get("metadata") or {},
                secret=_REDACTED,
            )
            for c in doc.get("credentials", [])
        )
        return AuditResult(
            schema_version=1,
            generated_at=doc["generated_at"],
            tool_version=doc.get("tool_version", ""),
            scope=doc.get("scope") or {},
            credentials=creds,
            resources=tuple(Resource.model_validate(r) for r in doc.get("resources", [])),
            backups=tuple(Backup.model_validate(b) for b in doc.get("backups", [])),
            findings=tuple(Finding.model_validate(f) for f in doc.get("findings", [])),
            exposure=tuple(Exposure.model_validate(e) for e in doc.get("exposure", [])),
            verdicts=tuple(DestroyVerdict.model_validate(v) for v in doc.get("verdicts", [])),
            coverage_gaps=tuple(CoverageGap.model_validate(g) for g in doc.get("coverage_gaps", [])),
            stats=doc.get("stats") or {},
            changes=doc.get("changes"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BlastwallError(f"{path}: malformed report ({type(exc).__name__}: {exc})") from None
