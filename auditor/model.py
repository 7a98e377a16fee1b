"""The domain model: immutable records every other part of Blastwall speaks.

Providers produce `Credential`, `Resource`, `Backup`, `DestroyFact`, `Finding` and
`CoverageGap` records; the engine combines them into one `AuditResult`; reports render it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from .secrets import Secret

__all__ = [
    "Status",
    "Severity",
    "SourceCategory",
    "Source",
    "Candidate",
    "Credential",
    "KEEP",
    "Keep",
    "Verdict",
    "Resource",
    "Backup",
    "DestroyFact",
    "CannotDestroyType",
    "Finding",
    "CoverageGap",
    "Exposure",
    "DestroyVerdict",
    "Inventory",
    "AuditResult",
    "SCHEMA_VERSION",
    "stable_id",
]

SCHEMA_VERSION = 1


def stable_id(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class Status(StrEnum):
    verified = "verified"
    invalid = "invalid"
    unverified = "unverified"
    error = "error"


class Severity(StrEnum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"
    info = "info"

    @property
    def rank(self) -> int:
        return ["info", "low", "medium", "high", "critical"].index(self.value)


class SourceCategory(StrEnum):
    agent_config = "agent_config"  # MCP / AI-agent configuration: an agent reads it by design
    cli_config = "cli_config"  # a CLI's login or config file
    dotenv = "dotenv"
    repository = "repository"  # any other file inside a scanned project
    environment = "environment"  # the process environment


class Source(Frozen):
    path: str  # file path, or "env" for the process environment
    locator: str  # key path inside the file, e.g. mcpServers.railway.env.RAILWAY_API_TOKEN
    line: int | None = None
    category: SourceCategory = SourceCategory.repository
    # An agent config entry that starts an MCP server acting with this (CLI-stored) credential
    agent: str | None = None  # e.g. "Cursor"
    mcp_server: str | None = None  # the entry's name and the server, e.g. "railway (Railway CLI MCP server)"
    destructive_tools: tuple[str, ...] = ()


class Candidate(Frozen):
    """A secret found by discovery, before its provider has looked at it."""

    provider: str
    kind: str
    secret: Secret = Field(exclude=True)
    companions: dict[str, Secret] = Field(default_factory=dict, exclude=True)
    sources: tuple[Source, ...] = ()
    hints: dict[str, str] = Field(default_factory=dict)  # non-secret context, e.g. expires_at

    @property
    def fingerprint(self) -> str:
        return self.secret.fingerprint


class Keep(Enum):
    """A `Verdict` field left as `KEEP` leaves the credential's value as it is."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """What a provider concluded about one credential, applied with `Credential.judged`.

    Every field is typed (mypy checks what a string-keyed ``model_copy(update=...)`` could not); a field
    left at `KEEP` keeps the credential's current value.
    """

    status: Status | Keep = KEEP
    root_equivalent: bool | None | Keep = KEEP
    capabilities: tuple[str, ...] | Keep = KEEP
    possible_capabilities: tuple[str, ...] | Keep = KEEP
    reasons: tuple[str, ...] | Keep = KEEP
    principal: str | None | Keep = KEEP
    kind: str | Keep = KEEP
    metadata: Mapping[str, Any] | Keep = KEEP

    def changes(self) -> dict[str, Any]:
        """The fields this verdict sets, by name."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if value is not KEEP:
                out[name] = dict(value) if name == "metadata" else value
        return out


class Credential(Frozen):
    id: str
    provider: str
    kind: str
    fingerprint: str
    status: Status = Status.unverified
    principal: str | None = None
    sources: tuple[Source, ...] = ()
    capabilities: tuple[str, ...] = ()  # e.g. delete:volume, known to be held
    possible_capabilities: tuple[str, ...] = ()  # undocumented/unknown but possible: never "safe"
    root_equivalent: bool | None = None
    reasons: tuple[str, ...] = ()
    metadata: dict[str, Any] = Field(default_factory=dict)  # non-secret facts (account id, expiry…)
    secret: Secret = Field(exclude=True)
    companions: dict[str, Secret] = Field(default_factory=dict, exclude=True)

    @classmethod
    def from_candidate(cls, c: Candidate, **kw: Any) -> Credential:
        base: dict[str, Any] = dict(
            id="cred-" + c.secret.fingerprint.split(":")[1],
            provider=c.provider,
            kind=c.kind,
            fingerprint=c.secret.fingerprint,
            sources=c.sources,
            secret=c.secret,
            companions=c.companions,
            metadata=dict(c.hints),
        )
        base.update(kw)
        return cls(**base)

    @property
    def label(self) -> str:
        return f"{self.provider} {self.kind.replace('_', ' ')} {self.fingerprint}"

    def judged(self, verdict: Verdict) -> Credential:
        """This credential with a provider's `verdict` applied (fields the verdict keeps are unchanged)."""
        return self.model_copy(update=verdict.changes())


class Resource(Frozen):
    id: str  # globally unique, provider-prefixed: railway:volume-instance:abc
    provider: str
    type: str  # volume, database, bucket, project, workspace…
    name: str
    parent: str | None = None
    holds_data: bool = False  # a dataset whose loss matters (volumes, databases, buckets)
    # A database's container: the Resource.id (volume, instance, project) whose deletion destroys it too.
    # The database itself is the "contents" target, the container the "container" target.
    container: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class Backup(Frozen):
    id: str
    provider: str
    protects: str  # Resource.id
    location: str  # human-readable: "inside Railway volume vol-1", "s3://bucket/key"
    kind: str = "snapshot"
    created_at: datetime | None = None
    # Facts reported by the provider:
    dies_with_resource: bool | None = None  # deleted when the protected resource is deleted
    independent: bool | None = None  # proven out of reach of every credential (e.g. compliance lock)
    # A copy taken before: it survives DROP/DELETE/FLUSH of the data it protects (a snapshot, a verified dump).
    survives_contents_loss: bool | None = None
    # Computed by the engine:
    same_blast_radius: bool | None = None
    reasons: tuple[str, ...] = ()
    last_verified_at: datetime | None = None
    last_verification: str | None = None  # passed | failed
    metadata: dict[str, Any] = Field(default_factory=dict)


class DestroyFact(Frozen):
    """Can `credential` destroy `target` (a Resource.id or Backup.id)? None means unknown."""

    credential: str
    target: str
    verdict: bool | None
    reason: str
    capability: str | None = None  # e.g. delete:volume


class CannotDestroyType(Frozen):
    """`credential` cannot destroy ANY resource of `resource_type` on `provider`: it lacks the capability
    altogether (a read-only key, a token without the scope or role), not just access to one resource.
    The engine applies it to every such resource, including ones only another credential listed."""

    credential: str
    provider: str  # the provider of the resources (usually the credential's own)
    resource_type: str  # Resource.type, e.g. repository
    reason: str
    capability: str | None = None  # the capability it lacks, e.g. delete:repo


class Finding(Frozen):
    id: str
    rule: str
    severity: Severity
    subject: str  # credential / resource / backup id, or a path
    message: str
    remediation: str
    provider: str | None = None
    path: str | None = None  # for SARIF: where in a file
    line: int | None = None

    @classmethod
    def make(cls, rule: str, severity: Severity, subject: str, message: str, remediation: str, **kw: Any) -> Finding:
        return cls(
            id=stable_id(rule, subject, kw.get("path") or ""),
            rule=rule,
            severity=severity,
            subject=subject,
            message=message,
            remediation=remediation,
            **kw,
        )


class CoverageGap(Frozen):
    subject: str
    reason: str
    provider: str | None = None


class Exposure(Frozen):
    credential: str
    can_destroy: tuple[str, ...] = ()
    may_destroy: tuple[str, ...] = ()  # destruction possible but unconfirmed
    unrecoverable: tuple[str, ...] = ()  # destroyable and no backup survives this credential
    possibly_unrecoverable: tuple[str, ...] = ()  # survival of every backup is unknown


class DestroyVerdict(Frozen):
    """One credential against one database: wiping its contents or deleting its container, and which backups
    survive that. ``survivors`` are Backup ids; ``text`` is the sentence reports show."""

    credential: str
    database: str  # Resource.id of the database (contents)
    kind: str  # "contents" | "container"
    target: str  # the database id (contents) or its container's id
    verdict: bool | None
    survivors: tuple[str, ...] = ()
    text: str = ""


class Inventory(Frozen):
    """What a provider's inventory() returns."""

    resources: tuple[Resource, ...] = ()
    backups: tuple[Backup, ...] = ()
    facts: tuple[DestroyFact, ...] = ()
    findings: tuple[Finding, ...] = ()
    gaps: tuple[CoverageGap, ...] = ()
    credentials: tuple[Credential, ...] = ()  # credentials refined during inventory (optional)
    denials: tuple[CannotDestroyType, ...] = ()  # whole resource types a credential cannot destroy

    def merge(self, other: Inventory) -> Inventory:
        """Both parts together; a resource or backup two credentials both listed appears once (by id, the
        first one's fields, metadata merged with the first one's values winning; `holds_data` if either says so)."""
        return Inventory(
            resources=_unique(self.resources + other.resources),
            backups=_unique(self.backups + other.backups),
            facts=self.facts + other.facts,
            findings=self.findings + other.findings,
            gaps=self.gaps + other.gaps,
            credentials=self.credentials + other.credentials,
            denials=tuple(dict.fromkeys(self.denials + other.denials)),
        )


_R = TypeVar("_R", Resource, Backup)


def _unique(items: tuple[_R, ...]) -> tuple[_R, ...]:
    out: dict[str, _R] = {}
    for item in items:
        seen = out.get(item.id)
        if seen is None:
            out[item.id] = item
            continue
        update: dict[str, Any] = {"metadata": {**item.metadata, **seen.metadata}}
        if isinstance(seen, Resource) and isinstance(item, Resource):
            update["holds_data"] = seen.holds_data or item.holds_data
            update["parent"] = seen.parent or item.parent
        out[item.id] = seen.model_copy(update=update)
    return tuple(out.values())


class AuditResult(Frozen):
    schema_version: int = SCHEMA_VERSION
    generated_at: datetime
    tool_version: str = ""
    scope: dict[str, Any] = Field(default_factory=dict)  # what was scanned: home, paths, env
    credentials: tuple[Credential, ...] = ()
    resources: tuple[Resource, ...] = ()
    backups: tuple[Backup, ...] = ()
    findings: tuple[Finding, ...] = ()
    exposure: tuple[Exposure, ...] = ()
    verdicts: tuple[DestroyVerdict, ...] = ()  # per database: contents vs container, with survivors
    coverage_gaps: tuple[CoverageGap, ...] = ()
    stats: dict[str, Any] = Field(default_factory=dict)
    changes: dict[str, Any] | None = None  # new/resolved findings since the previous audit
