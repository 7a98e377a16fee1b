"""What one database login may destroy: the result every inspector returns (no secrets in it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Privileges", "Grant", "Timeouts", "DESTRUCTIVE"]

# Capabilities that destroy the database's contents (the engine's "contents" target).
DESTRUCTIVE = (
    "drop:database",
    "drop:schema",
    "drop:table",
    "truncate:table",
    "delete:rows",
    "alter:table",
    "flush:keyspace",
    "delete:keys",
    "drop:collection",
)


@dataclass(frozen=True)
class Timeouts:
    connect_s: float = 5.0
    statement_s: float = 5.0


@dataclass(frozen=True)
class Grant:
    capability: str  # e.g. delete:rows
    scope: str  # e.g. "schema app", "database shop", "all databases", "keys ~cache:*"
    via: str  # the grant or attribute that gives it, e.g. "DELETE on 3 table(s)", "owner of database shop"


@dataclass(frozen=True)
class Privileges:
    role: str
    engine: str
    root_equivalent: bool | None
    grants: tuple[Grant, ...] = ()
    possible: tuple[Grant, ...] = ()  # may destroy, not proven (e.g. CREATEROLE)
    reasons: tuple[str, ...] = ()
    remediation_sql: tuple[str, ...] = ()
    facts: dict[str, Any] = field(default_factory=dict)  # plain JSON: attributes, schemas, roles…
    complete: bool = True  # False when part of the catalogue could not be read

    @property
    def capabilities(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(g.capability for g in self.grants))

    @property
    def possible_capabilities(self) -> tuple[str, ...]:
        have = set(self.capabilities)
        return tuple(dict.fromkeys(g.capability for g in self.possible if g.capability not in have))

    @property
    def destroys_contents(self) -> bool | None:
        if any(g.capability in DESTRUCTIVE for g in self.grants):
            return True
        if any(g.capability in DESTRUCTIVE for g in self.possible) or not self.complete:
            return None
        return False

    def scopes(self) -> list[dict[str, str]]:
        return [{"capability": g.capability, "scope": g.scope, "via": g.via} for g in self.grants] + [
            {"capability": g.capability, "scope": g.scope, "via": g.via, "possible": "true"} for g in self.possible
        ]
