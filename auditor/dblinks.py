"""Link databases named by connection URLs to the platform resources that hold them. Provider-neutral.

A database resource (``type == "database"``) lists ``metadata["container_keys"]`` (``host:port``,
``supabase-project:<ref>``, ``rds-instance:<region>:<id>`` …); platform providers list the same strings in
their resources' ``metadata["endpoints"]`` (a Railway volume: its TCP proxy and private domain). Only the
strings are compared. The result, as explicit facts for the engine:

* the database's ``container`` is that resource (contents vs container: two destroy targets);
* two databases in one container with the same engine and name are one resource (two URLs, one database);
* an off-platform backup whose ``protects`` is one of the database's ``aliases`` protects the database;
* a credential that can (or may) delete the container can (or may) destroy the contents: a derived fact
  with capability ``delete:container``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .model import Backup, DestroyFact, Resource

__all__ = ["Linked", "link_databases", "CONTAINER_CAPABILITY"]

CONTAINER_CAPABILITY = "delete:container"


@dataclass(frozen=True)
class Linked:
    resources: tuple[Resource, ...]
    backups: tuple[Backup, ...]
    facts: tuple[DestroyFact, ...]


def _endpoint_index(resources: Sequence[Resource]) -> dict[str, str]:
    index: dict[str, str] = {}
    for r in resources:
        for key in r.metadata.get("endpoints") or ():
            index.setdefault(str(key).lower(), r.id)
    return index


def link_databases(resources: Sequence[Resource], backups: Sequence[Backup], facts: Sequence[DestroyFact]) -> Linked:
    index = _endpoint_index(resources)
    rename: dict[str, str] = {}
    merged: dict[str, Resource] = {}
    seen: dict[tuple[str, str, str], str] = {}  # (container, engine, database) -> kept id
    out: list[Resource] = []
    for r in resources:
        if r.type != "database" or not r.metadata.get("container_keys"):
            out.append(r)
            continue
        container = r.container or next(
            (index[k.lower()] for k in r.metadata["container_keys"] if k.lower() in index and index[k.lower()] != r.id),
            None,
        )
        key = (container or "", str(r.metadata.get("engine")), str(r.metadata.get("database")))
        if container and key in seen:
            keep = merged[seen[key]]
            rename[r.id] = keep.id
            aliases = sorted({*keep.metadata.get("aliases", ()), *r.metadata.get("aliases", ()), r.id})
            endpoints = sorted({str(x) for x in (keep.metadata.get("endpoint"), r.metadata.get("endpoint")) if x})
            merged[keep.id] = keep.model_copy(
                update={"metadata": {**keep.metadata, "aliases": aliases, "endpoints_seen": endpoints}}
            )
            continue
        linked = r.model_copy(update={"container": container}) if container else r
        if container:
            seen[key] = r.id
        merged[r.id] = linked
        out.append(linked)
    out = [merged.get(r.id, r) for r in out]
    alias_of = {a: r.id for r in out if r.type == "database" for a in r.metadata.get("aliases") or ()}
    alias_of.update(rename)
    new_backups = tuple(
        b.model_copy(update={"protects": alias_of[b.protects]}) if b.protects in alias_of else b for b in backups
    )
    new_facts = [f.model_copy(update={"target": rename[f.target]}) if f.target in rename else f for f in facts]
    by_id = {r.id: r for r in out}
    for r in out:
        if r.type != "database" or not r.container:
            continue
        c = by_id.get(r.container)
        what = f"{c.type} {c.name}" if c else r.container
        for f in list(new_facts):
            if f.target == r.container and f.verdict is not False:
                new_facts.append(
                    DestroyFact(
                        credential=f.credential,
                        target=r.id,
                        verdict=f.verdict,
                        capability=CONTAINER_CAPABILITY,
                        reason=f"deleting {what} destroys this database: {f.reason}",
                    )
                )
    return Linked(resources=tuple(out), backups=new_backups, facts=tuple(new_facts))
