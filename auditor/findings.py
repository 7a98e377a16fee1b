"""Provider-agnostic findings derived from the analysed facts."""

from __future__ import annotations

from collections.abc import Sequence

from .model import Backup, Credential, Exposure, Finding, Resource, Severity, SourceCategory, Status

__all__ = ["core_findings"]

_AGENT_READABLE = {
    SourceCategory.agent_config,
    SourceCategory.dotenv,
    SourceCategory.repository,
    SourceCategory.environment,
    SourceCategory.cli_config,
}


def _where(c: Credential) -> str:
    first = c.sources[0] if c.sources else None
    if not first:
        return "an unknown place"
    more = f" and {len(c.sources) - 1} more place(s)" if len(c.sources) > 1 else ""
    return f"{first.path} ({first.locator}){more}"


def core_findings(
    credentials: Sequence[Credential],
    resources: Sequence[Resource],
    backups: Sequence[Backup],
    exposure: Sequence[Exposure],
) -> list[Finding]:
    out: list[Finding] = []
    names = {r.id: r.name for r in resources}
    by_id = {c.id: c for c in credentials}
    for c in credentials:
        first = c.sources[0] if c.sources else None
        loc = {"path": first.path, "line": first.line} if first and first.path != "env" else {}
        if c.root_equivalent is True and c.status != Status.invalid:
            agent = any(s.category == SourceCategory.agent_config for s in c.sources)
            out.append(
                Finding.make(
                    "root-equivalent-credential",
                    Severity.critical,
                    c.id,
                    f"{c.label} is root-equivalent and readable at {_where(c)}"
                    + (" — an AI-agent configuration file, read by agents by design." if agent else "."),
                    "Replace it with a narrowly scoped credential, move it out of files and environments agents can "
                    "read (a secret manager or an OS keyring), and rotate it.",
                    provider=c.provider,
                    **loc,
                )
            )
        elif c.root_equivalent is None and c.status != Status.invalid and c.possible_capabilities:
            out.append(
                Finding.make(
                    "destructive-capability-unknown",
                    Severity.medium,
                    c.id,
                    f"{c.label} at {_where(c)} may be able to destroy data "
                    f"({', '.join(c.possible_capabilities[:4])}); this could not be ruled out.",
                    "Treat it as destructive until proven otherwise: keep it out of agents' reach and scope it down.",
                    provider=c.provider,
                    **loc,
                )
            )
        if c.status == Status.invalid:
            out.append(
                Finding.make(
                    "stale-credential",
                    Severity.low,
                    c.id,
                    f"{c.label} at {_where(c)} was rejected by the provider (revoked or expired); it cannot "
                    "destroy anything.",
                    "Revoke and remove it: revoke it at the provider if that is not done yet, and delete it from the "
                    "file so nobody mistakes it for a working secret.",
                    provider=c.provider,
                    **loc,
                )
            )
    for e in exposure:
        holder = by_id.get(e.credential)
        for rid in e.unrecoverable:
            out.append(
                Finding.make(
                    "unrecoverable-if-misused",
                    Severity.critical,
                    rid,
                    f"If {holder.label if holder else e.credential} is misused, {names.get(rid, rid)} is gone for good: it can "
                    "destroy the data and every backup of it.",
                    "Take a backup outside this credential's blast radius (`blastwall backup run`) and scope the "
                    "credential down.",
                    provider=holder.provider if holder else None,
                )
            )
        for rid in e.possibly_unrecoverable:
            out.append(
                Finding.make(
                    "possibly-unrecoverable-if-misused",
                    Severity.high,
                    rid,
                    f"If {holder.label if holder else e.credential} is misused, {names.get(rid, rid)} may be unrecoverable: no "
                    "backup is known to survive it.",
                    "Keep a backup whose independence is proven (object-locked, separate account).",
                    provider=holder.provider if holder else None,
                )
            )
    protected: dict[str, list[Backup]] = {}
    for b in backups:
        protected.setdefault(b.protects, []).append(b)
        if b.same_blast_radius is True:
            out.append(
                Finding.make(
                    "backup-in-blast-radius",
                    Severity.high,
                    b.id,
                    f"Backup {b.id} of {names.get(b.protects, b.protects)} shares the blast radius of what it protects: "
                    + " ".join(b.reasons[-2:]),
                    "Keep at least one copy off-platform, with credentials that cannot delete it.",
                    provider=b.provider,
                )
            )
    for r in resources:
        if not r.holds_data:
            continue
        bs = protected.get(r.id, [])
        if not any(b.same_blast_radius is False for b in bs):
            out.append(
                Finding.make(
                    "no-independent-backup",
                    Severity.high,
                    r.id,
                    f"{r.provider} {r.type} {r.name} has no backup proven to be outside its blast radius"
                    + (f" ({len(bs)} backup(s) found, none independent)." if bs else " (no backup found)."),
                    "Configure an off-platform backup ([[backups]] in blastwall.toml) to an object-locked store.",
                    provider=r.provider,
                )
            )
    return out
