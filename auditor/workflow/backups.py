"""The workflow's thin adapter over the backup subsystem (`auditor.backup`, `auditor.pgtools`).

Every use the restore workflow makes of the backup catalogue, stores, manifests, the verifier and
`run_backup` goes through here, so the workflow depends on one small surface.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from pydantic import BaseModel

from ..config import BackupConfig, Config, SecretRef, SourceConfig, StoreConfig
from ..errors import BackupError, ConfigError
from ..secrets import Secret
from ..state import StateDB
from .model import StepError

__all__ = [
    "LocatedBackup",
    "SafetyDumpFailed",
    "count_tables",
    "dump_to_store",
    "fetch_backup_object",
    "find_backup",
    "find_pg_restore",
    "verify_full",
]

_SAFETY_ENV = "BLASTWALL_SAFETY_DUMP_SOURCE_URL"  # only ever in a step-local copy of the environment


class SafetyDumpFailed(StepError):
    pass


@dataclass
class LocatedBackup:
    manifest: Any  # auditor.backup.manifest.Manifest
    store: Any  # auditor.backup.stores.BackupStore (caller closes)
    config: BackupConfig

    def close(self) -> None:
        self.store.close()


def _backup_config(config: Config, source: str, store: str) -> BackupConfig:
    try:
        return config.backup_for(source)
    except ConfigError:
        return BackupConfig(source=source, store=store)


def _refs(node: Any) -> list[SecretRef]:
    if isinstance(node, SecretRef):
        return [node]
    if isinstance(node, BaseModel):
        return [r for name in type(node).model_fields for r in _refs(getattr(node, name))]
    if isinstance(node, tuple | list):
        return [r for item in node for r in _refs(item)]
    if isinstance(node, dict):
        return [r for item in node.values() for r in _refs(item)]
    return []


def referenced_env_names(config: Config) -> set[str]:
    """Every environment variable any `env:` reference of the configuration names."""
    return {r.target for r in _refs(config) if r.scheme == "env"}


def _names_of(config: Config, db: StateDB, backup_id: str) -> tuple[str | None, BackupConfig | None]:
    from ..backup.catalog import Catalog

    rec = Catalog(db).get(backup_id)
    if rec is not None:
        try:
            return rec.store, config.backup_for(rec.source)
        except ConfigError:
            return rec.store, None
    for b in config.backups:
        if backup_id.startswith(b.source + "-"):
            return b.store, b
    return None, None


def backup_secret_refs(config: Config, db: StateDB, backup_id: str) -> dict[str, SecretRef]:
    """The secret references needed to read `backup_id`: its store's keys and its age identities."""
    store, bcfg = _names_of(config, db, backup_id)
    refs: dict[str, SecretRef] = {}
    if store is not None:
        try:
            scfg = config.store(store)
        except ConfigError:
            scfg = None
        if scfg is not None:
            for key in ("access_key_id", "secret_access_key"):
                ref = getattr(scfg, key)
                if ref is not None:
                    refs[f"store.{key}"] = ref
    for i, ref in enumerate(bcfg.identities if bcfg else ()):
        refs[f"identity.{i}"] = ref
    return refs


def scoped_environ(
    base: Mapping[str, str], hidden: set[str], granted: Mapping[str, tuple[SecretRef, Secret]]
) -> dict[str, str]:
    """A step-local environment for library calls: `base` without any variable a secret reference names
    (`hidden`), plus only the step's own `env:` secrets. The caller clears it when the step is done."""
    env = {k: v for k, v in base.items() if k not in hidden}
    for ref, value in granted.values():
        if ref.scheme == "env":
            env[ref.target] = value.reveal()
    return env


def find_backup(config: Config, db: StateDB, backup_id: str, environ: Mapping[str, str]) -> LocatedBackup:
    """The manifest and store of `backup_id`: from the catalogue, or from the configured stores."""
    from ..backup.catalog import Catalog
    from ..backup.manifest import Manifest, manifest_key
    from ..backup.stores import open_store

    rec = Catalog(db).get(backup_id)
    candidates: list[tuple[BackupConfig, StoreConfig, str]] = []
    if rec is not None:
        if not rec.complete:
            raise StepError(
                f"backup {backup_id} is {rec.status}{' (pruned)' if rec.pruned_at else ''}, not a complete backup",
                hint="pick one from: blastwall backup list",
            )
        scfg = config.store(rec.store)
        candidates.append(
            (
                _backup_config(config, rec.source, rec.store),
                scfg,
                rec.manifest_key or manifest_key(scfg.prefix, rec.source, backup_id),
            )
        )
    else:
        for b in config.backups:
            if backup_id.startswith(b.source + "-"):
                scfg = config.store(b.store)
                candidates.append((b, scfg, manifest_key(scfg.prefix, b.source, backup_id)))
    for bcfg, scfg, mkey in candidates:
        store = open_store(scfg, environ)
        if store.stat(mkey) is None:
            store.close()
            continue
        try:
            manifest = Manifest.from_json(store.read_bytes(mkey))
        except Exception:
            store.close()
            raise
        return LocatedBackup(manifest, store, bcfg)
    raise StepError(
        f"backup {backup_id} not found (no manifest in the configured stores)",
        hint="list backups with: blastwall backup list",
    )


def fetch_backup_object(b: LocatedBackup, dest: Path, environ: Mapping[str, str]) -> str:
    """Stream the backup object to `dest` (decrypted), checking its SHA-256 against the manifest."""
    m = b.manifest
    sha = hashlib.sha256()
    raw = dest.with_suffix(".stored")
    with contextlib.closing(b.store.open_reader(m.object.key)) as r, open(raw, "wb") as f:
        while chunk := r.read(1024 * 1024):
            sha.update(chunk)
            f.write(chunk)
    if sha.hexdigest() != m.object.sha256:
        raw.unlink(missing_ok=True)
        raise StepError(
            f"backup object {m.object.location} does not match its manifest's SHA-256 (changed since it was verified?)"
        )
    if not m.object.encrypted:
        raw.rename(dest)
        return sha.hexdigest()
    import pyrage

    from ..backup.verify import load_identities

    identities = load_identities(b.config, environ)
    if not identities:
        raw.unlink(missing_ok=True)
        raise StepError("the backup is encrypted but its [[backups]] entry has no usable identities")
    try:
        with open(raw, "rb") as fin, open(dest, "wb") as fout:
            pyrage.decrypt_io(fin, fout, identities)
    except pyrage.DecryptError:
        raise StepError("cannot decrypt the backup with the configured identities") from None
    finally:
        raw.unlink(missing_ok=True)
    return sha.hexdigest()


def verify_full(config: Config, backup_id: str, *, db: StateDB, environ: Mapping[str, str]) -> dict[str, Any]:
    """A full verification (restore into a scratch database + row counts + checks), as the verify JSON."""
    from ..backup.verify import verify_backup

    result = verify_backup(config, backup_id, mode="full", db=db, environ=environ)
    doc: dict[str, Any] = result.to_json()
    return doc


def count_tables(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """Every user table with its exact row count (the same query the backup manifest uses)."""
    from ..backup.runner import count_rows

    return [{"name": t.qualified, "rows": t.rows} for t in count_rows(conn)]


def dump_to_store(
    config: Config,
    *,
    name: str,
    store: StoreConfig,
    url: Secret,
    like: BackupConfig | None,
    db: StateDB,
    environ: Mapping[str, str],
    clock: Callable[[], datetime],
) -> dict[str, Any]:
    """Back up the database at `url` as source `name` into `store` (a normal, catalogued backup).

    The credential reaches `run_backup` only through a step-local copy of the environment."""
    from ..backup.runner import run_backup

    synthetic = Config(
        sources=(SourceConfig(name=name, url=SecretRef.parse(f"env:{_SAFETY_ENV}"), pg_dump=config.verify.pg_bin_dir),),
        stores=(store,),
        backups=(
            BackupConfig(
                source=name,
                store=store.name,
                encrypt_to=like.encrypt_to if like else (),
                identities=like.identities if like else (),
            ),
        ),
        state=config.state,
    )
    local_env = {**environ, _SAFETY_ENV: url.reveal()}
    try:
        rec = run_backup(synthetic, name, db=db, environ=local_env, clock=clock)
    except BackupError as exc:
        raise SafetyDumpFailed(exc.message) from None
    finally:
        local_env.clear()
    return {
        "backup_id": rec.id,
        "store": rec.store,
        "location": rec.location,
        "sha256": rec.sha256,
        "size": rec.size,
        "tables": rec.tables,
        "total_rows": rec.total_rows,
    }


def find_pg_restore(min_major: int, configured: str | None) -> Path:
    from ..pgtools import find_tool

    return find_tool("pg_restore", min_major, configured=configured).path
