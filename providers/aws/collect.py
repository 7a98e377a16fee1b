"""Backup inventory: what exists, what protects it, and which actions destroy each.

One ``Collector`` per account; each (region, service) runs concurrently. Every read tries the
account's credentials in turn; when none may read an API, or the endpoint does not implement
it, that becomes a ``CoverageGap`` (never "nothing there").
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from auditor.model import Backup, CoverageGap, Finding, Resource, Severity

from .graph import Workload, Workloads
from .judge import DestroySpec, Step
from .policy import ResourcePolicy
from .session import AUTH, DENIED, NOT_FOUND, UNAVAILABLE, UNSUPPORTED, AwsSession, error_class, error_code, paginate

__all__ = ["Collector", "Collected", "Reader", "rid", "list_workloads"]

P = "aws"


def rid(arn: str) -> str:
    return f"aws:{arn}"


@dataclass
class Reader:
    cred_id: str
    session: AwsSession


@dataclass
class Collected:
    resources: list[Resource] = field(default_factory=list)
    backups: list[Backup] = field(default_factory=list)
    specs: list[DestroySpec] = field(default_factory=list)
    gaps: list[CoverageGap] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def extend(self, o: Collected) -> None:
        self.resources += o.resources
        self.backups += o.backups
        self.specs += o.specs
        self.gaps += o.gaps
        self.findings += o.findings


class _Unreadable(Exception):
    def __init__(self, what: str, why: str) -> None:
        super().__init__(what)
        self.what, self.why = what, why


def _steps(*pairs: tuple[tuple[str, ...] | str, str]) -> tuple[Step, ...]:
    return tuple(Step((a,) if isinstance(a, str) else a, arn) for a, arn in pairs)


class Collector:
    def __init__(
        self, account: str, readers: Sequence[Reader], *, clock: Callable[[], datetime], max_workers: int = 16
    ) -> None:
        self.account = account
        self.readers = list(readers)
        self.clock = clock
        self.max_workers = max_workers
        self._kms_lock = threading.Lock()
        self._kms: dict[str, str | None] = {}  # key arn/id -> KeyManager (CUSTOMER/AWS) or None unknown
        self._kms_policies: dict[str, ResourcePolicy | None] = {}
        self._preferred: dict[str, int] = {}

    # ---- reading with fallback over credentials ------------------------------------------------
    def call(self, service: str, region: str, fn: Callable[[Any], Any], what: str) -> Any:
        last = ""
        order = list(range(len(self.readers)))
        pref = self._preferred.get(service)
        if pref is not None:
            order.remove(pref)
            order.insert(0, pref)
        for i in order:
            client = self.readers[i].session.client(service, region)
            try:
                out = fn(client)
                self._preferred[service] = i
                return out
            except Exception as exc:  # noqa: BLE001 - classified below, never re-raised raw
                cls = error_class(exc)
                code = error_code(exc)
                if cls == NOT_FOUND:
                    raise
                if cls in (DENIED, AUTH):
                    last = f"denied to every discovered credential ({code})"
                    continue
                if cls == UNSUPPORTED:
                    raise _Unreadable(what, f"the API is not available at this endpoint ({code})") from None
                if cls == UNAVAILABLE:
                    raise _Unreadable(what, f"the endpoint could not be reached ({code})") from None
                raise _Unreadable(what, f"the call failed ({code})") from None
        raise _Unreadable(what, last or "no credential available to read it")

    def _gap(self, out: Collected, region: str, e: _Unreadable, consequence: str) -> None:
        out.gaps.append(
            CoverageGap(subject=f"aws {self.account} {region}: {e.what}", provider=P, reason=f"{e.why}; {consequence}")
        )

    # ---- orchestration ------------------------------------------------------------------------
    def regions(self, configured: Sequence[str] | None, default_region: str) -> tuple[list[str], list[CoverageGap]]:
        if configured:
            return list(configured), []
        try:
            regs = self.call(
                "ec2", default_region, lambda c: c.describe_regions(AllRegions=False)["Regions"], "ec2:DescribeRegions"
            )
            names = sorted(
                r["RegionName"] for r in regs if r.get("OptInStatus", "opt-in-not-required") != "not-opted-in"
            )
            return names or [default_region], []
        except (_Unreadable, Exception) as e:  # noqa: BLE001
            why = e.why if isinstance(e, _Unreadable) else error_code(e)
            return [default_region], [
                CoverageGap(
                    subject=f"aws {self.account}: enabled regions",
                    provider=P,
                    reason=f"could not list enabled regions ({why}); only {default_region} was inventoried",
                )
            ]

    def collect(self, regions: Sequence[str], s3_region: str) -> Collected:
        jobs: list[tuple[Callable[[str], Collected], str]] = []
        for r in regions:
            jobs += [(self.rds, r), (self.ec2, r), (self.backup, r), (self.dynamodb, r)]
        jobs.append((self.s3, s3_region))
        out = Collected()
        with ThreadPoolExecutor(max_workers=max(1, min(self.max_workers, len(jobs)))) as pool:
            for part in pool.map(lambda j: self._safe(j[0], j[1]), jobs):
                out.extend(part)
        return out

    def _safe(self, fn: Callable[[str], Collected], region: str) -> Collected:
        try:
            return fn(region)
        except _Unreadable as e:
            out = Collected()
            self._gap(out, region, e, "not inventoried")
            return out
        except Exception as e:  # noqa: BLE001 - one service's failure must not end the inventory
            out = Collected()
            out.gaps.append(
                CoverageGap(
                    subject=f"aws {self.account} {region}: {fn.__name__}",
                    provider=P,
                    reason=f"inventory failed ({type(e).__name__}: {error_code(e)}); not inventoried",
                )
            )
            return out

    # ---- KMS (crypto-shredding) ------------------------------------------------------------------
    def _kms_path(self, region: str, key: str | None) -> tuple[tuple[Step, ...], ...]:
        if not key:
            return ()
        with self._kms_lock:
            known = key in self._kms
            manager = self._kms.get(key)
        if not known:
            try:
                md = self.call("kms", region, lambda c: c.describe_key(KeyId=key)["KeyMetadata"], "kms:DescribeKey")
                manager = md.get("KeyManager")
                arn = md.get("Arn", key)
            except Exception:  # noqa: BLE001 - unknown manager: assume it may be deletable
                manager, arn = None, key
            with self._kms_lock:
                self._kms[key] = manager
                self._kms[key + "#arn"] = arn
        if manager == "AWS":
            return ()
        arn = self._kms.get(key + "#arn") or key
        return ((Step(("kms:ScheduleKeyDeletion",), arn, self._key_policy(region, arn)),),)

    def _key_policy(self, region: str, arn: str) -> ResourcePolicy | None:
        """The key policy of a customer-managed key (cached); None when unreadable: identity policies alone
        then decide, which can only overstate."""
        with self._kms_lock:
            if arn + "#policy" in self._kms_policies:
                return self._kms_policies[arn + "#policy"]
        try:
            doc = self.call(
                "kms", region, lambda c: c.get_key_policy(KeyId=arn, PolicyName="default")["Policy"], "kms:GetKeyPolicy"
            )
            pol: ResourcePolicy | None = ResourcePolicy.parse(
                f"key policy of {arn.rsplit('/', 1)[-1]}", doc, delegating=True
            )
        except Exception:  # noqa: BLE001
            pol = None
        with self._kms_lock:
            self._kms_policies[arn + "#policy"] = pol
        return pol

    def _listed(self, service: str, region: str, op: str, key: str, what: str, **params: Any) -> list[Any]:
        """Every item of the paginated ``op``, read as ``what`` by the first reader allowed to."""
        result: list[Any] = self.call(service, region, lambda c: paginate(c, op, key, **params), what)
        return result

    def _listed_or_gap(
        self,
        out: Collected,
        service: str,
        region: str,
        op: str,
        key: str,
        what: str,
        gap: str,
        default: list[Any] | None,
        **params: Any,
    ) -> Any:
        """Every item of the paginated ``op`` (read as ``what``); ``default`` and the coverage gap ``gap`` in
        ``out`` when no reader may read it."""
        try:
            return self._listed(service, region, op, key, what, **params)
        except _Unreadable as e:
            self._gap(out, region, e, gap)
            return default

    # ---- RDS -------------------------------------------------------------------------------------
    def rds(self, region: str) -> Collected:
        out = Collected()
        acct = self.account
        insts = self._listed("rds", region, "describe_db_instances", "DBInstances", "rds:DescribeDBInstances")
        clusters = self._listed_or_gap(
            out,
            "rds",
            region,
            "describe_db_clusters",
            "DBClusters",
            "rds:DescribeDBClusters",
            "RDS clusters not inventoried",
            [],
        )
        snaps = self._listed_or_gap(
            out,
            "rds",
            region,
            "describe_db_snapshots",
            "DBSnapshots",
            "rds:DescribeDBSnapshots",
            "manual DB snapshots unknown (not 'none')",
            None,
        )
        csnaps = self._listed_or_gap(
            out,
            "rds",
            region,
            "describe_db_cluster_snapshots",
            "DBClusterSnapshots",
            "rds:DescribeDBClusterSnapshots",
            "DB cluster snapshots unknown (not 'none')",
            None,
        )
        autos = self._listed_or_gap(
            out,
            "rds",
            region,
            "describe_db_instance_automated_backups",
            "DBInstanceAutomatedBackups",
            "rds:DescribeDBInstanceAutomatedBackups",
            "retained automated backups unknown",
            None,
        )

        auto_snaps: dict[str, int] = {}
        for s in snaps or []:
            if s.get("SnapshotType") == "automated":
                auto_snaps[s.get("DBInstanceIdentifier", "")] = auto_snaps.get(s.get("DBInstanceIdentifier", ""), 0) + 1
        for inst in insts:
            arn = inst["DBInstanceArn"]
            ident = inst["DBInstanceIdentifier"]
            in_cluster = bool(inst.get("DBClusterIdentifier"))
            retention = int(inst.get("BackupRetentionPeriod") or 0)
            dp = bool(inst.get("DeletionProtection"))
            kms = inst.get("KmsKeyId") if inst.get("StorageEncrypted") else None
            replications = [
                r.get("DBInstanceAutomatedBackupsArn")
                for r in inst.get("DBInstanceAutomatedBackupsReplications", []) or []
            ]
            out.resources.append(
                Resource(
                    id=rid(arn),
                    provider=P,
                    type="database",
                    name=f"RDS {ident} ({region})",
                    holds_data=not in_cluster,
                    parent=rid(f"arn:aws:rds:{region}:{acct}:cluster:{inst['DBClusterIdentifier']}")
                    if in_cluster
                    else None,
                    metadata={
                        "account": acct,
                        "region": region,
                        "engine": inst.get("Engine"),
                        "backup_retention_days": retention,
                        "deletion_protection": dp,
                        "encrypted": bool(inst.get("StorageEncrypted")),
                        "kms_key": kms,
                        "backup_replications": len(replications),
                        "arn": arn,
                        # matched against database URL hosts (auditor.dblinks)
                        "endpoints": _rds_endpoints("rds-instance", region, ident, [inst.get("Endpoint")]),
                        "source_refs": _server_refs(inst),
                    },
                )
            )
            if in_cluster:
                continue
            delete = _steps(("rds:DeleteDBInstance", arn))
            if dp:
                delete = delete + _steps(("rds:ModifyDBInstance", arn))
            out.specs.append(
                DestroySpec(
                    rid(arn),
                    acct,
                    (delete,) + self._kms_path(region, kms),
                    capability="delete:rds-instance",
                    notes=("(deletion protection is on: turning it off needs rds:ModifyDBInstance)",) if dp else (),
                )
            )
            if retention > 0:
                bid = f"aws:automated-backups:{arn}"
                out.backups.append(
                    Backup(
                        id=bid,
                        provider=P,
                        protects=rid(arn),
                        kind="automated-backup",
                        location=f"RDS automated backups of {ident} ({region}, same account)",
                        dies_with_resource=True,
                        independent=False,
                        reasons=(
                            "RDS deletes automated backups together with the DB instance unless whoever deletes "
                            "it asks to retain them (DeleteAutomatedBackups=false).",
                        ),
                        metadata={
                            "retention_days": retention,
                            "automated_snapshots": auto_snaps.get(ident, 0),
                            "latest_restorable_time": str(inst.get("LatestRestorableTime") or "") or None,
                        },
                    )
                )
                out.specs.append(
                    DestroySpec(
                        bid,
                        acct,
                        (_steps(("rds:DeleteDBInstance", arn)), _steps(("rds:ModifyDBInstance", arn)))
                        + self._kms_path(region, kms),
                        capability="modify:rds-instance",
                    )
                )
            else:
                out.findings.append(
                    Finding.make(
                        "aws.rds.backups-disabled",
                        Severity.high,
                        rid(arn),
                        f"RDS instance {ident} ({region}) has automated backups turned off (retention 0).",
                        "Set BackupRetentionPeriod to at least 7 days and copy snapshots to another account.",
                        provider=P,
                    )
                )
            if not dp:
                out.findings.append(
                    Finding.make(
                        "aws.rds.no-deletion-protection",
                        Severity.medium,
                        rid(arn),
                        f"RDS instance {ident} ({region}) can be deleted in one API call: deletion protection is off.",
                        "Turn on DeletionProtection (rds modify-db-instance --deletion-protection).",
                        provider=P,
                    )
                )
            for rep in replications:
                if not rep:
                    continue
                rregion = rep.split(":")[3] if rep.count(":") > 4 else "?"
                bid = f"aws:{rep}"
                out.backups.append(
                    Backup(
                        id=bid,
                        provider=P,
                        protects=rid(arn),
                        kind="automated-backup-replica",
                        location=f"replicated automated backups of {ident} in {rregion} (same account)",
                        dies_with_resource=None,
                        reasons=(
                            "Cross-Region replica of the automated backups in the same account; whether it "
                            "outlives deletion of the source is not established here.",
                        ),
                    )
                )
                out.specs.append(
                    DestroySpec(
                        bid,
                        acct,
                        (_steps(("rds:DeleteDBInstanceAutomatedBackup", rep)),),
                        capability="delete:rds-automated-backup",
                    )
                )
        for a in autos or []:
            if str(a.get("Status", "")).lower() != "retained":
                continue
            aarn = (
                a.get("DBInstanceAutomatedBackupsArn")
                or f"arn:aws:rds:{region}:{acct}:auto-backup:{a.get('DbiResourceId')}"
            )
            src = a.get("DBInstanceArn") or f"arn:aws:rds:{region}:{acct}:db:{a.get('DBInstanceIdentifier')}"
            bid = f"aws:{aarn}"
            out.backups.append(
                Backup(
                    id=bid,
                    provider=P,
                    protects=rid(src),
                    kind="retained-automated-backup",
                    location=f"retained automated backups of deleted instance {a.get('DBInstanceIdentifier')} ({region})",
                    dies_with_resource=False,
                    reasons=("Retained after its instance was deleted; expires with its retention period.",),
                    metadata={"retention_days": a.get("BackupRetentionPeriod")},
                )
            )
            out.specs.append(
                DestroySpec(
                    bid,
                    acct,
                    (_steps(("rds:DeleteDBInstanceAutomatedBackup", aarn)),),
                    capability="delete:rds-automated-backup",
                )
            )
        for s in snaps or []:
            if s.get("SnapshotType") not in ("manual",):
                continue
            kms = s.get("KmsKeyId") if s.get("Encrypted") else None
            self._rds_manual_snapshot(
                out,
                acct,
                region,
                s,
                s["DBSnapshotArn"],
                f"db:{s.get('DBInstanceIdentifier')}",
                kms,
                f"RDS manual snapshot {s['DBSnapshotIdentifier']}",
                "Manual snapshots survive deletion of the DB instance; in the same account any principal "
                "holding rds:DeleteDBSnapshot can delete them.",
                "rds:DeleteDBSnapshot",
                "delete:rds-snapshot",
                {"encrypted": bool(s.get("Encrypted")), "kms_key": kms},
            )
        for cl in clusters:
            carn = cl["DBClusterArn"]
            ident = cl["DBClusterIdentifier"]
            dp = bool(cl.get("DeletionProtection"))
            retention = int(cl.get("BackupRetentionPeriod") or 0)
            kms = cl.get("KmsKeyId") if cl.get("StorageEncrypted") else None
            out.resources.append(
                Resource(
                    id=rid(carn),
                    provider=P,
                    type="database-cluster",
                    name=f"RDS cluster {ident} ({region})",
                    holds_data=True,
                    metadata={
                        "account": acct,
                        "region": region,
                        "engine": cl.get("Engine"),
                        "backup_retention_days": retention,
                        "deletion_protection": dp,
                        "arn": carn,
                        "endpoints": _rds_endpoints(
                            "rds-cluster",
                            region,
                            ident,
                            [
                                {"Address": cl.get("Endpoint"), "Port": cl.get("Port")},
                                {"Address": cl.get("ReaderEndpoint"), "Port": cl.get("Port")},
                            ],
                        ),
                    },
                )
            )
            delete = _steps(("rds:DeleteDBCluster", carn))
            if dp:
                delete = delete + _steps(("rds:ModifyDBCluster", carn))
            out.specs.append(
                DestroySpec(rid(carn), acct, (delete,) + self._kms_path(region, kms), capability="delete:rds-cluster")
            )
            if retention > 0:
                bid = f"aws:automated-backups:{carn}"
                out.backups.append(
                    Backup(
                        id=bid,
                        provider=P,
                        protects=rid(carn),
                        kind="automated-backup",
                        location=f"automated backups of cluster {ident} ({region}, same account)",
                        dies_with_resource=True,
                        independent=False,
                        reasons=(
                            "Automated cluster backups are deleted with the cluster unless retained on deletion.",
                        ),
                        metadata={"retention_days": retention},
                    )
                )
                out.specs.append(
                    DestroySpec(
                        bid,
                        acct,
                        (_steps(("rds:DeleteDBCluster", carn)), _steps(("rds:ModifyDBCluster", carn))),
                        capability="modify:rds-cluster",
                    )
                )
        for s in csnaps or []:
            if s.get("SnapshotType") != "manual":
                continue
            self._rds_manual_snapshot(
                out,
                acct,
                region,
                s,
                s["DBClusterSnapshotArn"],
                f"cluster:{s.get('DBClusterIdentifier')}",
                s.get("KmsKeyId") if s.get("StorageEncrypted") else None,
                f"RDS cluster snapshot {s['DBClusterSnapshotIdentifier']}",
                "Manual cluster snapshots survive deletion of the cluster; deletable with rds:DeleteDBClusterSnapshot.",
                "rds:DeleteDBClusterSnapshot",
                "delete:rds-cluster-snapshot",
            )
        return out

    def _rds_manual_snapshot(
        self,
        out: Collected,
        acct: str,
        region: str,
        snap: dict[str, Any],
        sarn: str,
        source: str,
        kms: str | None,
        label: str,
        reason: str,
        delete_action: str,
        capability: str,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """A manual RDS (instance or cluster) snapshot ``snap`` of ``source`` (``db:…``/``cluster:…``): a backup
        of its own, deletable with one action (and through its KMS key)."""
        bid = rid(sarn)
        out.backups.append(
            Backup(
                id=bid,
                provider=P,
                protects=rid(f"arn:aws:rds:{region}:{acct}:{source}"),
                kind="snapshot",
                location=f"{label} ({region}, same account)",
                created_at=_dt(snap.get("SnapshotCreateTime")),
                dies_with_resource=False,
                reasons=(reason,),
                metadata=metadata or {},
            )
        )
        out.specs.append(
            DestroySpec(
                bid, acct, (_steps((delete_action, sarn)),) + self._kms_path(region, kms), capability=capability
            )
        )

    # ---- EC2 / EBS / Recycle Bin ------------------------------------------------------------------
    def ec2(self, region: str) -> Collected:
        out = Collected()
        acct = self.account
        vols = self._listed("ec2", region, "describe_volumes", "Volumes", "ec2:DescribeVolumes")
        snaps = self._listed_or_gap(
            out,
            "ec2",
            region,
            "describe_snapshots",
            "Snapshots",
            "ec2:DescribeSnapshots",
            "EBS snapshots unknown (not 'none')",
            [],
            OwnerIds=["self"],
        )
        rules: list[dict[str, Any]] | None
        try:
            rules = self.call(
                "rbin",
                region,
                lambda c: paginate(c, "list_rules", "Rules", ResourceType="EBS_SNAPSHOT"),
                "rbin:ListRules",
            )
            rules = [self._rule_detail(region, r) for r in rules]
        except _Unreadable as e:
            rules = None
            self._gap(
                out,
                region,
                e,
                "Recycle Bin protection of EBS snapshots unknown; deletions are judged as if no rule kept them",
            )
        for v in vols:
            varn = f"arn:aws:ec2:{region}:{acct}:volume/{v['VolumeId']}"
            kms = v.get("KmsKeyId") if v.get("Encrypted") else None
            out.resources.append(
                Resource(
                    id=rid(varn),
                    provider=P,
                    type="volume",
                    name=f"EBS {v['VolumeId']} ({region})",
                    holds_data=True,
                    metadata={
                        "account": acct,
                        "region": region,
                        "size_gib": v.get("Size"),
                        "state": v.get("State"),
                        "encrypted": bool(v.get("Encrypted")),
                        "kms_key": kms,
                        "arn": varn,
                        "attached_to": [a.get("InstanceId") for a in v.get("Attachments", []) or []],
                    },
                )
            )
            out.specs.append(
                DestroySpec(
                    rid(varn),
                    acct,
                    (_steps(("ec2:DeleteVolume", varn)),) + self._kms_path(region, kms),
                    capability="delete:ebs-volume",
                )
            )
        for s in snaps:
            sid = s["SnapshotId"]
            sarn = f"arn:aws:ec2:{region}::snapshot/{sid}"
            varn = f"arn:aws:ec2:{region}:{acct}:volume/{s.get('VolumeId')}"
            kms = s.get("KmsKeyId") if s.get("Encrypted") else None
            tags = {t["Key"]: t.get("Value", "") for t in s.get("Tags", []) or []}
            notes: tuple[str, ...] = ()
            paths: tuple[tuple[Step, ...], ...]
            covering = [r for r in (rules or []) if _rule_covers(r, tags)]
            fixed = None
            if rules is None:
                paths = (_steps(("ec2:DeleteSnapshot", sarn)),)
                notes = ("(Recycle Bin rules could not be read.)",)
            elif any(r.get("LockState") == "locked" for r in covering):
                r0 = next(r for r in covering if r.get("LockState") == "locked")
                fixed = (
                    False,
                    f"a locked Recycle Bin rule ({r0.get('Identifier')}) keeps deleted snapshots for "
                    f"{_retention(r0)}; locked rules cannot be changed even by admins",
                )
                paths = ()
            elif covering:
                rule_arn = (
                    covering[0].get("RuleArn") or f"arn:aws:rbin:{region}:{acct}:rule/{covering[0].get('Identifier')}"
                )
                paths = (_steps(("ec2:DeleteSnapshot", sarn), (("rbin:DeleteRule", "rbin:UpdateRule"), rule_arn)),)
                notes = (
                    f"(A Recycle Bin rule keeps deleted snapshots {_retention(covering[0])}; "
                    "destroying one also needs changing that rule.)",
                )
            else:
                paths = (_steps(("ec2:DeleteSnapshot", sarn)),)
            bid = rid(sarn)
            out.backups.append(
                Backup(
                    id=bid,
                    provider=P,
                    protects=rid(varn),
                    kind="snapshot",
                    location=f"EBS snapshot {sid} ({region}, same account)",
                    created_at=_dt(s.get("StartTime")),
                    dies_with_resource=False,
                    independent=True if fixed else None,
                    reasons=(
                        "EBS snapshots survive deletion of the volume; in the same account any principal holding "
                        "ec2:DeleteSnapshot can delete them.",
                    ),
                    metadata={
                        "volume_id": s.get("VolumeId"),
                        "recycle_bin_rules": [r.get("Identifier") for r in covering],
                        "encrypted": bool(s.get("Encrypted")),
                    },
                )
            )
            out.specs.append(
                DestroySpec(
                    bid,
                    acct,
                    paths + (self._kms_path(region, kms) if not fixed else ()),
                    capability="delete:ebs-snapshot",
                    fixed=fixed,
                    notes=notes,
                )
            )
        return out

    def _rule_detail(self, region: str, r: dict[str, Any]) -> dict[str, Any]:
        try:
            d = self.call("rbin", region, lambda c: c.get_rule(Identifier=r["Identifier"]), "rbin:GetRule")
            return {**r, **d}
        except Exception:  # noqa: BLE001 - the summary is enough to judge conservatively
            return r

    # ---- AWS Backup ------------------------------------------------------------------------------
    def backup(self, region: str) -> Collected:
        out = Collected()
        acct = self.account
        vaults = self._listed("backup", region, "list_backup_vaults", "BackupVaultList", "backup:ListBackupVaults")
        now = self.clock()
        for v in vaults:
            name = v["BackupVaultName"]
            varn = v.get("BackupVaultArn") or f"arn:aws:backup:{region}:{acct}:backup-vault:{name}"
            locked = bool(v.get("Locked"))
            lock_date = _dt(v.get("LockDate"))
            if not locked:
                mode = "none"
            elif lock_date is not None and lock_date <= now:
                mode = "compliance"
            elif lock_date is not None:
                mode = "compliance-grace"  # still removable until LockDate
            else:
                mode = "governance"
            out.resources.append(
                Resource(
                    id=rid(varn),
                    provider=P,
                    type="backup-vault",
                    name=f"AWS Backup vault {name} ({region})",
                    holds_data=False,
                    metadata={
                        "account": acct,
                        "region": region,
                        "lock_mode": mode,
                        "lock_date": lock_date.isoformat() if lock_date else None,
                        "min_retention_days": v.get("MinRetentionDays"),
                        "vault_type": v.get("VaultType", "BACKUP_VAULT"),
                        "recovery_points_reported": v.get("NumberOfRecoveryPoints"),
                    },
                )
            )
            if mode == "none":
                out.findings.append(
                    Finding.make(
                        "aws.backup.vault-not-locked",
                        Severity.medium,
                        rid(varn),
                        f"AWS Backup vault {name} ({region}) has no Vault Lock: recovery points can be deleted by any "
                        "principal with backup:DeleteRecoveryPoint.",
                        "Add a compliance-mode Vault Lock (put-backup-vault-lock-configuration with ChangeableForDays).",
                        provider=P,
                    )
                )
            vpol: tuple[ResourcePolicy, ...] = ()
            try:
                doc = self.call(
                    "backup",
                    region,
                    lambda c: c.get_backup_vault_access_policy(BackupVaultName=name),
                    "backup:GetBackupVaultAccessPolicy",
                ).get("Policy")
                if doc:
                    vpol = (ResourcePolicy.parse(f"access policy of vault {name}", doc),)
            except _Unreadable as e:
                self._gap(out, region, e, f"vault {name}: access policy unknown (a Deny there is not credited)")
            except Exception as e:  # noqa: BLE001
                if error_class(e) != NOT_FOUND:
                    raise
            try:
                rps = self.call(
                    "backup",
                    region,
                    lambda c: paginate(
                        c, "list_recovery_points_by_backup_vault", "RecoveryPoints", BackupVaultName=name
                    ),
                    "backup:ListRecoveryPointsByBackupVault",
                )
            except _Unreadable as e:
                out.gaps.append(
                    CoverageGap(
                        subject=f"aws {acct} {region}: recovery points of vault {name}",
                        provider=P,
                        reason=f"{e.why}; the vault's recovery points are unknown (not 'no recovery points')",
                    )
                )
                continue
            for rp in rps:
                out.backups.append(self._recovery_point(region, varn, name, mode, rp, out, vpol))
        return out

    def _recovery_point(
        self,
        region: str,
        varn: str,
        vault: str,
        mode: str,
        rp: dict[str, Any],
        out: Collected,
        vpol: tuple[ResourcePolicy, ...] = (),
    ) -> Backup:
        acct = self.account
        rparn = rp["RecoveryPointArn"]
        src = rp.get("ResourceArn") or "unknown"
        bid = rid(rparn)
        fixed = None
        if mode == "compliance":
            fixed = (
                False,
                f"in compliance-locked vault {vault}: no user or service can delete it before its "
                "retention ends, root included",
            )
            paths: tuple[tuple[Step, ...], ...] = ()
        elif mode in ("governance", "compliance-grace"):
            paths = (
                _steps(
                    ("backup:DeleteBackupVaultLockConfiguration", varn),
                    (("backup:DeleteRecoveryPoint", "backup:UpdateRecoveryPointLifecycle"), rparn),
                ),
            )
        else:
            paths = (
                _steps((("backup:DeleteRecoveryPoint", "backup:UpdateRecoveryPointLifecycle"), rparn)),
                _steps(("backup:DeleteBackupVault", varn)),
            )
        out.specs.append(
            DestroySpec(
                bid, acct, paths, capability="delete:backup-recovery-point", fixed=fixed, resource_policies=vpol
            )
        )
        reasons = {
            "compliance": "Vault Lock in compliance mode: immutable until retention ends.",
            "compliance-grace": "Vault Lock in compliance mode but still inside its grace time: removable until "
            "the lock date.",
            "governance": "Vault Lock in governance mode: a principal with "
            "backup:DeleteBackupVaultLockConfiguration can remove it, then delete.",
            "none": "Unlocked vault: backup:DeleteRecoveryPoint deletes it.",
        }[mode]
        return Backup(
            id=bid,
            provider=P,
            protects=rid(src),
            kind="recovery-point",
            location=f"AWS Backup vault {vault} ({region})",
            created_at=_dt(rp.get("CreationDate")),
            dies_with_resource=False,
            independent=True if mode == "compliance" else None,
            reasons=(reasons,),
            metadata={"vault_lock": mode, "status": rp.get("Status")},
        )

    # ---- S3 --------------------------------------------------------------------------------------
    def s3(self, region: str) -> Collected:
        out = Collected()
        acct = self.account
        buckets = self.call("s3", region, lambda c: c.list_buckets().get("Buckets", []), "s3:ListAllMyBuckets")

        def one(b: dict[str, Any]) -> Collected:
            part = Collected()
            name = b["Name"]
            barn = f"arn:aws:s3:::{name}"

            def get(op: str, what: str, **kw: Any) -> Any:
                try:
                    return self.call("s3", region, lambda c: getattr(c, op)(Bucket=name, **kw), what)
                except _Unreadable as e:
                    self._gap(part, region, e, f"bucket {name}: {what} unknown")
                    return _UNKNOWN
                except Exception as e:  # noqa: BLE001
                    if error_class(e) == NOT_FOUND:
                        return None
                    raise

            ver = get("get_bucket_versioning", "s3:GetBucketVersioning")
            lock = get("get_object_lock_configuration", "s3:GetBucketObjectLockConfiguration")
            repl = get("get_bucket_replication", "s3:GetReplicationConfiguration")
            bpol = get("get_bucket_policy", "s3:GetBucketPolicy")
            rps: tuple[ResourcePolicy, ...] = ()
            if bpol not in (None, _UNKNOWN) and bpol.get("Policy"):
                rps = (ResourcePolicy.parse(f"bucket policy of s3://{name}", bpol["Policy"]),)
            versioning = None if ver is _UNKNOWN else ((ver or {}).get("Status") or "Disabled")
            lock_cfg = None if lock is _UNKNOWN else ((lock or {}).get("ObjectLockConfiguration") or {})
            lock_on = None if lock_cfg is None else lock_cfg.get("ObjectLockEnabled") == "Enabled"
            rule = ((lock_cfg or {}).get("Rule") or {}).get("DefaultRetention") or {}
            lock_mode = rule.get("Mode")
            part.resources.append(
                Resource(
                    id=rid(barn),
                    provider=P,
                    type="bucket",
                    name=f"s3://{name}",
                    holds_data=True,
                    metadata={
                        "account": acct,
                        "versioning": versioning,
                        "object_lock": lock_on,
                        "default_retention": rule or None,
                        "arn": barn,
                    },
                )
            )
            objs = f"{barn}/*"
            part.specs.append(
                DestroySpec(
                    rid(barn),
                    acct,
                    (_steps(("s3:DeleteObject", objs)), _steps(("s3:PutLifecycleConfiguration", barn))),
                    capability="delete:s3-object",
                    resource_policies=rps,
                )
            )
            if versioning in ("Enabled", "Suspended"):
                bid = f"aws:versions:{barn}"
                fixed = None
                reasons = ["Noncurrent versions survive deletes and overwrites of current objects."]
                if lock_on and lock_mode == "COMPLIANCE":
                    fixed = (
                        False,
                        f"Object Lock default retention in COMPLIANCE mode ({_days(rule)}): versions "
                        "under retention cannot be deleted by anyone",
                    )
                    reasons.append(
                        "Compliance-mode default retention: versions written since then are immutable "
                        "for the retention period (older, unlocked versions are not)."
                    )
                    paths: tuple[tuple[Step, ...], ...] = ()
                elif lock_on and lock_mode == "GOVERNANCE":
                    paths = (_steps(("s3:DeleteObjectVersion", objs), ("s3:BypassGovernanceRetention", objs)),)
                    reasons.append("Governance-mode retention: s3:BypassGovernanceRetention overrides it.")
                else:
                    paths = (_steps(("s3:DeleteObjectVersion", objs)), _steps(("s3:PutLifecycleConfiguration", barn)))
                    if lock_on:
                        reasons.append(
                            "Object Lock is enabled without a default retention: only objects given their "
                            "own retention are protected."
                        )
                part.backups.append(
                    Backup(
                        id=bid,
                        provider=P,
                        protects=rid(barn),
                        kind="object-versions",
                        location=f"noncurrent versions inside s3://{name}",
                        dies_with_resource=False,
                        independent=True if fixed else None,
                        reasons=tuple(reasons),
                        metadata={"versioning": versioning, "object_lock_mode": lock_mode},
                    )
                )
                part.specs.append(
                    DestroySpec(
                        bid, acct, paths, capability="delete:s3-object-version", fixed=fixed, resource_policies=rps
                    )
                )
            elif versioning == "Disabled":
                part.findings.append(
                    Finding.make(
                        "aws.s3.no-versioning",
                        Severity.medium,
                        rid(barn),
                        f"s3://{name} has no versioning: a delete or overwrite is final.",
                        "Enable versioning (and Object Lock or replication to another account for independence).",
                        provider=P,
                    )
                )
            if repl not in (None, _UNKNOWN):
                for r in (repl.get("ReplicationConfiguration") or {}).get("Rules", []) or []:
                    if r.get("Status") != "Enabled":
                        continue
                    dest = r.get("Destination") or {}
                    dbucket = dest.get("Bucket", "")
                    dacct = dest.get("Account") or acct
                    bid = f"aws:replica:{barn}->{dbucket}"
                    other = dacct != acct
                    part.backups.append(
                        Backup(
                            id=bid,
                            provider=P,
                            protects=rid(barn),
                            kind="replica",
                            location=f"replica in {dbucket}" + (f" (account {dacct})" if other else " (same account)"),
                            dies_with_resource=False,
                            reasons=(
                                (
                                    "A copy in another AWS account is out of reach of this account's credentials."
                                    if other
                                    else "Replica in the same account: deletable by the same principals."
                                ),
                            ),
                            metadata={"destination_account": dacct},
                        )
                    )
                    dobjs = f"{dbucket}/*"
                    part.specs.append(
                        DestroySpec(
                            bid,
                            dacct,
                            (
                                _steps(("s3:DeleteObjectVersion", dobjs)),
                                _steps(("s3:PutLifecycleConfiguration", dbucket)),
                            ),
                            capability="delete:s3-object-version",
                        )
                    )
            return part

        with ThreadPoolExecutor(max_workers=8) as pool:
            for part in pool.map(one, buckets):
                out.extend(part)
        return out

    # ---- DynamoDB --------------------------------------------------------------------------------
    def dynamodb(self, region: str) -> Collected:
        out = Collected()
        acct = self.account
        tables = self._listed("dynamodb", region, "list_tables", "TableNames", "dynamodb:ListTables")
        backups = self._listed_or_gap(
            out,
            "dynamodb",
            region,
            "list_backups",
            "BackupSummaries",
            "dynamodb:ListBackups",
            "DynamoDB on-demand backups unknown (not 'none')",
            None,
        )
        for t in tables:
            tarn = f"arn:aws:dynamodb:{region}:{acct}:table/{t}"
            try:
                cb = self.call(
                    "dynamodb",
                    region,
                    lambda c: c.describe_continuous_backups(TableName=t),
                    "dynamodb:DescribeContinuousBackups",
                )
                pitr = ((cb.get("ContinuousBackupsDescription") or {}).get("PointInTimeRecoveryDescription") or {}).get(
                    "PointInTimeRecoveryStatus"
                ) == "ENABLED"
            except _Unreadable as e:
                pitr = None
                self._gap(out, region, e, f"point-in-time recovery of table {t} unknown")
            out.resources.append(
                Resource(
                    id=rid(tarn),
                    provider=P,
                    type="table",
                    name=f"DynamoDB {t} ({region})",
                    holds_data=True,
                    metadata={"account": acct, "region": region, "pitr": pitr, "arn": tarn},
                )
            )
            out.specs.append(
                DestroySpec(
                    rid(tarn), acct, (_steps(("dynamodb:DeleteTable", tarn)),), capability="delete:dynamodb-table"
                )
            )
            if pitr:
                bid = f"aws:pitr:{tarn}"
                out.backups.append(
                    Backup(
                        id=bid,
                        provider=P,
                        protects=rid(tarn),
                        kind="pitr",
                        location=f"point-in-time recovery of {t} ({region})",
                        dies_with_resource=False,
                        reasons=(
                            "With PITR on, deleting the table leaves a system backup for 35 days; turning PITR off "
                            "first (dynamodb:UpdateContinuousBackups) leaves none.",
                        ),
                    )
                )
                out.specs.append(
                    DestroySpec(
                        bid,
                        acct,
                        (_steps(("dynamodb:UpdateContinuousBackups", tarn)),),
                        capability="disable:dynamodb-pitr",
                    )
                )
            elif pitr is False:
                out.findings.append(
                    Finding.make(
                        "aws.dynamodb.no-pitr",
                        Severity.medium,
                        rid(tarn),
                        f"DynamoDB table {t} ({region}) has point-in-time recovery off.",
                        "Enable PITR and back the table up to a locked AWS Backup vault in another account.",
                        provider=P,
                    )
                )
        for b in backups or []:
            if b.get("BackupType") not in ("USER", "SYSTEM"):
                continue
            barn = b["BackupArn"]
            bid = rid(barn)
            out.backups.append(
                Backup(
                    id=bid,
                    provider=P,
                    protects=rid(b.get("TableArn") or ""),
                    kind="snapshot",
                    location=f"DynamoDB backup {b.get('BackupName')} ({region}, same account)",
                    created_at=_dt(b.get("BackupCreationDateTime")),
                    dies_with_resource=False,
                    reasons=("On-demand backups survive deletion of the table; deletable with dynamodb:DeleteBackup.",),
                )
            )
            out.specs.append(
                DestroySpec(bid, acct, (_steps(("dynamodb:DeleteBackup", barn)),), capability="delete:dynamodb-backup")
            )
        return out


_UNKNOWN = object()


def _server_refs(inst: dict[str, Any]) -> list[str]:
    """`postgres://address:port` of a PostgreSQL instance: how a backup source given by URL names it."""
    ep = inst.get("Endpoint") or {}
    if not ep.get("Address") or "postgres" not in str(inst.get("Engine", "")):
        return []
    return [f"postgres://{ep['Address']}:{ep.get('Port') or 5432}"]


def _dt(v: Any) -> datetime | None:
    if isinstance(v, datetime):
        return v if v.tzinfo else v.replace(tzinfo=UTC)
    if isinstance(v, str) and v:
        try:
            d = datetime.fromisoformat(v.replace("Z", "+00:00"))
            return d if d.tzinfo else d.replace(tzinfo=UTC)
        except ValueError:
            return None
    return None


def _days(rule: dict[str, Any]) -> str:
    if rule.get("Days"):
        return f"{rule['Days']} days"
    if rule.get("Years"):
        return f"{rule['Years']} years"
    return "unknown period"


def _retention(rule: dict[str, Any]) -> str:
    rp = rule.get("RetentionPeriod") or {}
    return f"{rp.get('RetentionPeriodValue', '?')} {str(rp.get('RetentionPeriodUnit', 'days')).lower()}"


def _rule_covers(rule: dict[str, Any], tags: dict[str, str]) -> bool:
    if str(rule.get("Status", "available")).lower() not in ("available", "pending"):
        return False
    want = rule.get("ResourceTags") or []
    excl = rule.get("ExcludeResourceTags") or []
    for t in excl:
        if tags.get(t.get("ResourceTagKey")) == t.get("ResourceTagValue", tags.get(t.get("ResourceTagKey"))):
            return False
    if not want:
        return True
    return any(tags.get(t.get("ResourceTagKey")) == t.get("ResourceTagValue") for t in want)


# ---- existing compute that runs with a role (escalation-graph input) ------------------------------
_LIST_OP = {
    "lambda-function": "lambda:ListFunctions",
    "glue-dev-endpoint": "glue:GetDevEndpoints",
    "ec2-instance": "ec2:DescribeInstances",
    "ssm-instance": "ssm:DescribeInstanceInformation",
    "cloudformation-stack": "cloudformation:DescribeStacks",
    "sagemaker-notebook": "sagemaker:ListNotebookInstances",
    "codebuild-project": "codebuild:ListProjects",
    "ecs-task": "ecs:ListTasks",
    "ecs-task-definition": "ecs:ListTaskDefinitions",
    "datapipeline": "datapipeline:ListPipelines",
    "autoscaling-group": "autoscaling:DescribeAutoScalingGroups",
}


def _profile_ref(p: dict[str, Any] | None) -> str:
    p = p or {}
    return f"instance-profile:{p.get('Arn') or p.get('Name') or ''}" if (p.get("Arn") or p.get("Name")) else ""


def list_workloads(col: Collector, regions: Sequence[str]) -> Workloads:
    """Every existing resource of the modelled kinds that runs with a role. A role given as an instance
    profile is ``instance-profile:<arn or name>`` (the provider resolves it with the IAM snapshot). A kind
    that could not be listed in some region is named in ``unlisted`` with the reason."""
    out = Workloads()
    lock = threading.Lock()
    acct = col.account

    def run(kind: str, region: str, fn: Callable[[str], list[Workload]]) -> None:
        try:
            got = fn(region)
        except _Unreadable as e:
            why = f"{e.what} in {region}: {e.why}"
        except Exception as e:  # noqa: BLE001 - one kind failing is a gap, never an abort
            why = f"{_LIST_OP[kind]} in {region} failed ({error_code(e)})"
        else:
            with lock:
                out.items.extend(got)
            return
        with lock:
            out.unlisted.setdefault(kind, why)
            if kind == "ec2-instance":  # SSM targets are matched to instances: unknown too
                out.unlisted.setdefault("ssm-instance", why)

    def call(service: str, region: str, fn: Callable[[Any], Any], kind: str) -> Any:
        return col.call(service, region, fn, _LIST_OP[kind])

    def lambdas(r: str) -> list[Workload]:
        fns = call("lambda", r, lambda c: paginate(c, "list_functions", "Functions"), "lambda-function")
        return [Workload("lambda-function", f["FunctionArn"], f["FunctionName"], f.get("Role", "")) for f in fns]

    def glue(r: str) -> list[Workload]:
        eps = call("glue", r, lambda c: paginate(c, "get_dev_endpoints", "DevEndpoints"), "glue-dev-endpoint")
        return [
            Workload(
                "glue-dev-endpoint",
                f"arn:aws:glue:{r}:{acct}:devEndpoint/{e['EndpointName']}",
                e["EndpointName"],
                e.get("RoleArn", ""),
            )
            for e in eps
        ]

    def ec2_ssm(r: str) -> list[Workload]:
        res = call("ec2", r, lambda c: paginate(c, "describe_instances", "Reservations"), "ec2-instance")
        insts = {
            i["InstanceId"]: i
            for rv in res
            for i in rv.get("Instances", [])
            if (i.get("State") or {}).get("Name") not in ("terminated", "shutting-down")
        }
        got = []
        for iid, i in insts.items():
            prof = _profile_ref(i.get("IamInstanceProfile"))
            if prof:
                got.append(Workload("ec2-instance", f"arn:aws:ec2:{r}:{acct}:instance/{iid}", iid, prof))
        try:
            managed = call(
                "ssm",
                r,
                lambda c: paginate(c, "describe_instance_information", "InstanceInformationList"),
                "ssm-instance",
            )
        except _Unreadable as e:
            with lock:
                out.unlisted.setdefault("ssm-instance", f"{e.what} in {r}: {e.why}")
            return got
        for m in managed:
            iid = m.get("InstanceId", "")
            arn = (
                f"arn:aws:ec2:{r}:{acct}:instance/{iid}"
                if iid.startswith("i-")
                else f"arn:aws:ssm:{r}:{acct}:managed-instance/{iid}"
            )
            role = m.get("IamRole") or ""
            if iid in insts:
                role = _profile_ref(insts[iid].get("IamInstanceProfile")) or role
            elif role and not role.startswith("arn:"):
                role = f"arn:aws:iam::{acct}:role/{role}"
            if role:
                got.append(Workload("ssm-instance", arn, iid, role))
        return got

    def cfn(r: str) -> list[Workload]:
        stacks = call("cloudformation", r, lambda c: paginate(c, "describe_stacks", "Stacks"), "cloudformation-stack")
        return [
            Workload("cloudformation-stack", s["StackId"], s["StackName"], s["RoleARN"])
            for s in stacks
            if s.get("RoleARN") and s.get("StackStatus") != "DELETE_COMPLETE"
        ]

    def sagemaker(r: str) -> list[Workload]:
        nbs = call(
            "sagemaker", r, lambda c: paginate(c, "list_notebook_instances", "NotebookInstances"), "sagemaker-notebook"
        )
        got = []
        for n in nbs:
            name = n["NotebookInstanceName"]
            d = call(
                "sagemaker", r, lambda c: c.describe_notebook_instance(NotebookInstanceName=name), "sagemaker-notebook"
            )
            got.append(
                Workload(
                    "sagemaker-notebook",
                    n.get("NotebookInstanceArn") or d.get("NotebookInstanceArn", ""),
                    name,
                    d.get("RoleArn", ""),
                )
            )
        return got

    def codebuild(r: str) -> list[Workload]:
        names = call("codebuild", r, lambda c: paginate(c, "list_projects", "projects"), "codebuild-project")
        got = []
        for i in range(0, len(names), 100):
            chunk = names[i : i + 100]
            projs = call(
                "codebuild", r, lambda c: c.batch_get_projects(names=chunk).get("projects", []), "codebuild-project"
            )
            got += [
                Workload(
                    "codebuild-project",
                    p["arn"],
                    p["name"],
                    p.get("serviceRole", ""),
                    note="buildspec override at StartBuild",
                )
                for p in projs
            ]
        return got

    tdefs: dict[tuple[str, str], str] = {}

    def task_role(r: str, tdarn: str) -> str:
        key = (r, tdarn)
        if key not in tdefs:
            td = call(
                "ecs",
                r,
                lambda c: c.describe_task_definition(taskDefinition=tdarn)["taskDefinition"],
                "ecs-task-definition",
            )
            tdefs[key] = td.get("taskRoleArn") or ""
        return tdefs[key]

    def ecs_defs(r: str) -> list[Workload]:
        arns = call(
            "ecs",
            r,
            lambda c: paginate(c, "list_task_definitions", "taskDefinitionArns", status="ACTIVE"),
            "ecs-task-definition",
        )
        got = []
        for a in arns:
            role = task_role(r, a)
            if role:
                got.append(
                    Workload(
                        "ecs-task-definition",
                        a,
                        a.rsplit("/", 1)[-1],
                        role,
                        note="container command overridden at RunTask",
                    )
                )
        return got

    def ecs_tasks(r: str) -> list[Workload]:
        clusters = call("ecs", r, lambda c: paginate(c, "list_clusters", "clusterArns"), "ecs-task")
        got = []
        for cl in clusters:
            tarns = call("ecs", r, lambda c: paginate(c, "list_tasks", "taskArns", cluster=cl), "ecs-task")
            for i in range(0, len(tarns), 100):
                chunk = tarns[i : i + 100]
                tasks = call("ecs", r, lambda c: c.describe_tasks(cluster=cl, tasks=chunk).get("tasks", []), "ecs-task")
                for t in tasks:
                    role = (t.get("overrides") or {}).get("taskRoleArn") or task_role(r, t["taskDefinitionArn"])
                    if role:
                        got.append(Workload("ecs-task", t["taskArn"], t["taskArn"].rsplit("/", 1)[-1], role))
        return got

    def pipelines(r: str) -> list[Workload]:
        ids = call("datapipeline", r, lambda c: paginate(c, "list_pipelines", "pipelineIdList"), "datapipeline")
        got = []
        for p in ids:
            pid = p["id"]
            d = call("datapipeline", r, lambda c: c.get_pipeline_definition(pipelineId=pid), "datapipeline")
            roles: list[str] = []
            for obj in d.get("pipelineObjects", []) or []:
                for f in obj.get("fields", []) or []:
                    if f.get("key") in ("resourceRole", "role") and f.get("stringValue"):
                        roles.append(f"{f['key']}:{f['stringValue']}")
            for ref in dict.fromkeys(roles):
                key, name = ref.split(":", 1)
                role = f"instance-profile:{name}" if key == "resourceRole" else f"arn:aws:iam::{acct}:role/{name}"
                got.append(
                    Workload(
                        "datapipeline", f"arn:aws:datapipeline:{r}:{acct}:pipeline/{pid}", p.get("name") or pid, role
                    )
                )
        return got

    def asgs(r: str) -> list[Workload]:
        groups = call(
            "autoscaling",
            r,
            lambda c: paginate(c, "describe_auto_scaling_groups", "AutoScalingGroups"),
            "autoscaling-group",
        )
        got = []
        for g in groups:
            lt = g.get("LaunchTemplate") or ((g.get("MixedInstancesPolicy") or {}).get("LaunchTemplate") or {}).get(
                "LaunchTemplateSpecification"
            )
            if not lt or not (lt.get("LaunchTemplateId") or lt.get("LaunchTemplateName")):
                continue
            version = lt.get("Version") or "$Default"
            kw = (
                {"LaunchTemplateId": lt["LaunchTemplateId"]}
                if lt.get("LaunchTemplateId")
                else {"LaunchTemplateName": lt["LaunchTemplateName"]}
            )
            vers = call(
                "ec2",
                r,
                lambda c: c.describe_launch_template_versions(Versions=[version], **kw).get(
                    "LaunchTemplateVersions", []
                ),
                "autoscaling-group",
            )
            for v in vers:
                prof = _profile_ref((v.get("LaunchTemplateData") or {}).get("IamInstanceProfile"))
                if not prof:
                    continue
                ltarn = f"arn:aws:ec2:{r}:{acct}:launch-template/{v['LaunchTemplateId']}"
                got.append(
                    Workload(
                        "autoscaling-group",
                        g["AutoScalingGroupARN"],
                        g["AutoScalingGroupName"],
                        prof,
                        arns=(("ec2:CreateLaunchTemplateVersion", ltarn), ("ec2:ModifyLaunchTemplate", ltarn)),
                        note=f"launches template version {version}",
                    )
                )
        return got

    jobs: list[tuple[str, str, Callable[[str], list[Workload]]]] = []
    for r in regions:
        jobs += [
            ("lambda-function", r, lambdas),
            ("glue-dev-endpoint", r, glue),
            ("ec2-instance", r, ec2_ssm),
            ("cloudformation-stack", r, cfn),
            ("sagemaker-notebook", r, sagemaker),
            ("codebuild-project", r, codebuild),
            ("ecs-task-definition", r, ecs_defs),
            ("ecs-task", r, ecs_tasks),
            ("datapipeline", r, pipelines),
            ("autoscaling-group", r, asgs),
        ]
    with ThreadPoolExecutor(max_workers=max(1, min(col.max_workers, len(jobs)))) as pool:
        list(pool.map(lambda j: run(*j), jobs))
    return out


def _rds_endpoints(kind: str, region: str, ident: str, endpoints: list[Any]) -> list[str]:
    """``rds-instance:<region>:<id>`` (or ``rds-cluster:…``) and each endpoint's ``host:port``."""
    out = [f"{kind}:{region}:{ident}".lower()]
    for e in endpoints:
        if isinstance(e, dict) and e.get("Address"):
            out.append(f"{e['Address']}:{e.get('Port') or 5432}".lower())
    return out
