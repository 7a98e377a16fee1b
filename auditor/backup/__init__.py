"""Off-platform backups and restore verification. User docs: docs/how-to/backup.md and docs/how-to/verify.md.

Library API (other areas call these; the CLI in `auditor/cli/backup.py` is a thin layer over them):

- `run_backup(config, source, *, db=None, store=None, progress=None) -> BackupRecord`
- `verify_backup(config, backup_id | None, *, latest=None, quick=False, db=None, server=None)
  -> VerificationResult` (never raises for a bad backup; `result.failure_code` says what is wrong)
- `list_backups(db, source=None) -> list[BackupRecord]`
- `check_store(config, store_name, db=None) -> StorePosture`
- `prune_backups(config, db, dry_run=False) -> PruneReport`
- `offsite_backups_for_audit(config, db) -> list[auditor.model.Backup]`
- `verification_findings(config, db, clock) -> list[auditor.model.Finding]`

Building blocks for gated restores: `stores.open_store` / `BackupStore.open_reader`,
`manifest.Manifest`, `verify.load_identities`, `auditor.pgserver.ScratchPostgres`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .audit_view import (
        compliance_covers,
        list_backups,
        offsite_backups_for_audit,
        storage_of,
        verification_findings,
    )
    from .catalog import BackupRecord, Catalog, VerificationRecord
    from .posture import StorePosture, check_store
    from .prune import PruneReport, prune_backups
    from .runner import run_backup
    from .verify import VerificationResult, verify_backup

_EXPORTS = {
    "list_backups": "audit_view",
    "offsite_backups_for_audit": "audit_view",
    "verification_findings": "audit_view",
    "storage_of": "audit_view",
    "compliance_covers": "audit_view",
    "BackupRecord": "catalog",
    "Catalog": "catalog",
    "VerificationRecord": "catalog",
    "StorePosture": "posture",
    "check_store": "posture",
    "PruneReport": "prune",
    "prune_backups": "prune",
    "run_backup": "runner",
    "VerificationResult": "verify",
    "verify_backup": "verify",
}
__all__ = [
    "BackupRecord",
    "Catalog",
    "PruneReport",
    "StorePosture",
    "VerificationRecord",
    "VerificationResult",
    "check_store",
    "compliance_covers",
    "list_backups",
    "offsite_backups_for_audit",
    "prune_backups",
    "run_backup",
    "storage_of",
    "verification_findings",
    "verify_backup",
]


def __getattr__(name: str) -> Any:  # PEP 562: nothing heavy (psycopg, boto3, SQLAlchemy) until it is used
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
