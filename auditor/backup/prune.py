"""`backup prune`: delete only what retention allows.

A backup is a candidate when its `[[backups]] keep_days` is set and it is older than that;
the newest complete backup of each source is always kept. Objects still under object lock
are not even attempted (their retain-until date is in the catalogue); if the store refuses a
delete anyway (a lock or policy we did not know about), that refusal is expected: the backup
is reported as kept, not as an error. Failed runs' leftover objects are pruned the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ..config import Config
from ..state import StateDB
from .catalog import Catalog
from .stores import BackupStore, DeleteResult, open_store

__all__ = ["prune_backups", "PruneReport", "PruneItem"]


@dataclass(frozen=True)
class PruneItem:
    backup_id: str
    source: str
    action: str  # deleted | would_delete | kept
    reason: str


@dataclass
class PruneReport:
    items: list[PruneItem] = field(default_factory=list)

    @property
    def deleted(self) -> int:
        return sum(1 for i in self.items if i.action == "deleted")

    @property
    def kept(self) -> int:
        return sum(1 for i in self.items if i.action == "kept")

    def to_json(self) -> dict[str, Any]:
        return {
            "deleted": self.deleted,
            "kept": self.kept,
            "items": [
                {"backup": i.backup_id, "source": i.source, "action": i.action, "reason": i.reason} for i in self.items
            ],
        }


def prune_backups(
    config: Config,
    db: StateDB,
    *,
    dry_run: bool = False,
    clock: Callable[[], datetime] | None = None,
    environ: Any = None,
) -> PruneReport:
    clock = clock or (lambda: datetime.now(UTC))
    now = clock()
    catalog = Catalog(db, clock)
    catalog.reap_dead_runs()
    report = PruneReport()
    stores: dict[str, BackupStore] = {}
    try:
        for b in config.backups:
            if not b.keep_days:
                continue
            cutoff = now - timedelta(days=b.keep_days)
            recs = [r for r in catalog.records(b.source) if r.store == b.store and r.status != "running"]
            newest = next((r for r in recs if r.complete), None)
            for r in recs:
                if r.created_at >= cutoff:
                    continue
                if newest is not None and r.id == newest.id:
                    report.items.append(PruneItem(r.id, r.source, "kept", "newest complete backup of the source"))
                    continue
                if r.retain_until is not None and r.retain_until > now:
                    report.items.append(
                        PruneItem(
                            r.id, r.source, "kept", f"object lock until {r.retain_until:%Y-%m-%d %H:%M} UTC (expected)"
                        )
                    )
                    continue
                if dry_run:
                    report.items.append(
                        PruneItem(r.id, r.source, "would_delete", f"older than keep_days={b.keep_days}")
                    )
                    continue
                if b.store not in stores:
                    stores[b.store] = open_store(config.store(b.store), environ)
                store = stores[b.store]
                refused: list[DeleteResult] = []
                for k in (r.object_key, r.manifest_key):  # the object first: a refusal keeps the pair whole
                    if k and not refused:
                        res = store.delete(k)
                        if not res.deleted:
                            refused.append(res)
                if refused:
                    report.items.append(
                        PruneItem(r.id, r.source, "kept", f"{refused[0].reason} (expected: retention not over)")
                    )
                    continue
                catalog.update_run(r.id, pruned_at=now)
                report.items.append(PruneItem(r.id, r.source, "deleted", f"older than keep_days={b.keep_days}"))
    finally:
        for s in stores.values():
            s.close()
    return report
