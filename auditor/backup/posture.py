"""`check-store`: could the store's own credentials delete or overwrite existing backups?

The tool audits its own backup path. For S3 it reads the bucket's versioning and object-lock
configuration (when the credential may), then probes with a dedicated object under
`<prefix>.blastwall-probe/` — never a real backup:

1. put a probe object (with the store's retention, but only 1 day long);
2. overwrite it, and check whether the first version survives (versioning);
3. try to delete that first version (refused = object lock or policy);
4. in GOVERNANCE mode, try again with `BypassGovernanceRetention` (allowed = the lock is no
   obstacle for this credential).

A local directory protects nothing from whoever can write to it, which is reported as such.
The recommended setup: a put-only credential on a bucket with COMPLIANCE-mode object lock in a
different account or provider.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..config import Config
from ..state import StateDB
from .catalog import Catalog
from .stores import LocalStore, S3Store, open_store

__all__ = ["StorePosture", "check_store", "PROBE_DIR"]

PROBE_DIR = ".blastwall-probe/"


@dataclass
class StorePosture:
    store: str
    can_delete_backups: bool | None = None
    can_overwrite_backups: bool | None = None
    object_lock: dict[str, Any] | None = None
    versioning: str = "unknown"
    reasons: list[str] = field(default_factory=list)

    @property
    def protected(self) -> bool:
        return self.can_delete_backups is False and self.can_overwrite_backups is False

    @property
    def independent(self) -> bool:
        """Backups here survive this credential: neither deletable nor overwritable."""
        return self.protected

    def to_json(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "can_delete_backups": self.can_delete_backups,
            "can_overwrite_backups": self.can_overwrite_backups,
            "object_lock": self.object_lock,
            "versioning": self.versioning,
            "reasons": list(self.reasons),
        }


def check_store(
    config: Config, store_name: str, *, db: StateDB | None = None, environ: Any = None, record: bool = True
) -> StorePosture:
    scfg = config.store(store_name)
    store = open_store(scfg, environ)
    try:
        if isinstance(store, LocalStore):
            posture = _local(store)
        else:
            assert isinstance(store, S3Store)
            posture = _s3(store)
    finally:
        store.close()
    if record and db is not None:
        Catalog(db).record_store_check(store_name, posture.to_json())
    return posture


def _local(store: LocalStore) -> StorePosture:
    p = StorePosture(store.name, versioning="n/a")
    root = store.root
    probe = root if root.exists() else root.parent
    writable = os.access(probe, os.W_OK)
    p.can_delete_backups = writable
    p.can_overwrite_backups = writable
    p.reasons.append(
        f"local directory {root}: anyone who can write to it (this user: "
        f"{'yes' if writable else 'no'}) can delete or replace backups; there is no object lock"
    )
    p.reasons.append(
        "use an S3 store with COMPLIANCE object lock and a put-only credential in another account "
        "for backups that survive a compromised machine"
    )
    return p


def _code(exc: Exception) -> str:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "error"))
    return type(exc).__name__


def _s3(store: S3Store) -> StorePosture:
    from botocore.exceptions import ClientError

    s3, bucket = store.client, store.bucket
    p = StorePosture(store.name)
    # versioning
    try:
        v = s3.get_bucket_versioning(Bucket=bucket).get("Status") or "Disabled"
        p.versioning = v
    except ClientError as exc:
        p.reasons.append(f"cannot read bucket versioning ({_code(exc)})")
    # object lock configuration
    default_lock: dict[str, Any] | None = None
    try:
        cfg = s3.get_object_lock_configuration(Bucket=bucket).get("ObjectLockConfiguration", {})
        if cfg.get("ObjectLockEnabled") == "Enabled":
            rule = cfg.get("Rule", {}).get("DefaultRetention", {})
            default_lock = (
                {"mode": rule.get("Mode"), "days": rule.get("Days")} if rule else {"mode": None, "days": None}
            )
            p.reasons.append(
                "bucket object lock is enabled"
                + (
                    f" with default retention {rule.get('Mode')} {rule.get('Days')} days"
                    if rule
                    else " (no default retention: Blastwall sets retention on every object)"
                )
            )
        else:
            p.reasons.append("bucket object lock is not enabled")
    except ClientError as exc:
        code = _code(exc)
        if code in ("ObjectLockConfigurationNotFoundError", "NoSuchObjectLockConfiguration"):
            p.reasons.append("bucket object lock is not enabled")
        else:
            p.reasons.append(f"cannot read the bucket's object-lock configuration ({code}); judged by probing")
    if store.object_lock:
        p.object_lock = {"mode": store.object_lock[0], "days": store.object_lock[1]}
    elif default_lock and default_lock.get("mode"):
        p.object_lock = default_lock

    key = f"{store.prefix}{PROBE_DIR}{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"
    lock = store.lock_args(days=1) if store.object_lock else {}
    try:
        first = s3.put_object(Bucket=bucket, Key=key, Body=b"blastwall probe v1\n", **lock)
    except ClientError as exc:
        p.reasons.append(f"cannot write a probe object ({_code(exc)}): backups cannot be written either")
        return p
    v1 = first.get("VersionId")
    lock_mode = None
    with contextlib.suppress(ClientError):
        lock_mode = s3.head_object(Bucket=bucket, Key=key).get("ObjectLockMode")
    if lock_mode and p.object_lock is None:
        p.object_lock = {"mode": lock_mode, "days": None}
    if store.object_lock and not lock_mode:
        p.reasons.append(
            "the probe object has no retention although object_lock is configured: the bucket ignores object lock"
        )

    # overwrite
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=b"blastwall probe v2\n", **lock)
        survived: bool | None = None
        if v1 and v1 != "null":
            try:
                old = s3.get_object(Bucket=bucket, Key=key, VersionId=v1)["Body"].read()
                survived = old == b"blastwall probe v1\n"
            except ClientError as exc:
                p.reasons.append(f"cannot read the probe's first version back ({_code(exc)})")
        else:
            survived = False
        if survived is True:
            p.can_overwrite_backups = False
            p.reasons.append("overwriting keeps the earlier version (versioning): a backup cannot be replaced")
        elif survived is False:
            p.can_overwrite_backups = True
            p.reasons.append(
                "an overwrite replaced the probe object: without versioning these credentials can replace backups"
            )
    except ClientError as exc:
        p.can_overwrite_backups = False
        p.reasons.append(f"overwriting the probe was refused ({_code(exc)})")

    # delete the first version
    target_v = v1 if v1 and v1 != "null" else None
    try:
        if target_v:
            s3.delete_object(Bucket=bucket, Key=key, VersionId=target_v)
        else:
            s3.delete_object(Bucket=bucket, Key=key)
        p.can_delete_backups = True
        p.reasons.append("deleting the probe object succeeded: these credentials can delete backups")
    except ClientError as exc:
        code = _code(exc)
        p.can_delete_backups = False
        why = f"object lock {lock_mode}" if lock_mode else "the credential's policy"
        p.reasons.append(f"deleting the probe's version was refused ({code}: {why})")
        if lock_mode == "GOVERNANCE" and target_v:
            try:
                s3.delete_object(Bucket=bucket, Key=key, VersionId=target_v, BypassGovernanceRetention=True)
                p.can_delete_backups = True
                p.reasons.append(
                    "…but BypassGovernanceRetention succeeded: GOVERNANCE mode does not stop these "
                    "credentials; use COMPLIANCE mode or remove s3:BypassGovernanceRetention"
                )
            except ClientError:
                p.reasons.append("BypassGovernanceRetention was refused too")
    if p.versioning == "Enabled" and p.can_delete_backups is False:
        p.reasons.append("a plain DELETE only adds a delete marker; the locked version stays restorable")
    if lock_mode == "COMPLIANCE":
        p.reasons.append(f"the probe object {key} stays until its 1-day retention ends (expected)")
    else:
        _cleanup_probe(store, key)
    if not store.endpoint or "amazonaws.com" in (store.endpoint or ""):
        p.reasons.append(
            "IAM policy analysis of the key is not performed here; the probes above test what the key can actually do"
        )
    return p


def _cleanup_probe(store: S3Store, key: str) -> None:
    with contextlib.suppress(Exception):
        for vid, _ in store.versions(key):
            with contextlib.suppress(Exception):
                store.client.delete_object(Bucket=store.bucket, Key=key, VersionId=vid)
