"""`blastwall init --from-report`: how a Railway PostgreSQL volume becomes a `[[sources]]` entry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditor.starter import SourceProposal

__all__ = ["TOKEN_ENV", "propose_source"]

TOKEN_ENV = "RAILWAY_API_TOKEN"


def propose_source(resource: Mapping[str, Any]) -> SourceProposal | None:
    """A source for a volume of a PostgreSQL service (its URL is looked up on Railway when the backup runs)."""
    meta = resource.get("metadata") or {}
    if resource.get("type") != "volume" or meta.get("database") != "postgres" or not meta.get("service"):
        return None
    project = meta.get("project") or meta.get("project_id")
    if not project:
        return None
    environment = meta.get("environment") or "production"
    ref = {"project": project, "environment": environment, "service": meta["service"]}
    return SourceProposal(
        name=f"{project}-{meta['service']}",
        label=f"railway volume {resource.get('name')} (PostgreSQL service {meta['service']} in {project}/{environment})",
        entry={"provider": "railway", "ref": ref, "token": f"env:{TOKEN_ENV}"},
        env={
            TOKEN_ENV: f"a Railway account or workspace token that can read the variables of project {project} "
            "(the backup reads its DATABASE_PUBLIC_URL; no other access is used)"
        },
    )
