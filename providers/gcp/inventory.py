"""What one verified Google Cloud credential reaches in one project, and escalation across credentials.

Cloud SQL (Admin API v1): each instance is a data-holding resource; its backup runs are Google-managed
backups that are deleted with the instance (Google's documented default) unless the instance has
``settings.retainBackupsOnDelete``. Even retained backups stay in the same project: whoever holds
``cloudsql.backupRuns.delete`` or ``resourcemanager.projects.delete`` there can delete them, so they are
never independent. A final backup (``settings.finalBackupConfig``) does not exist until the deletion
and the deleting call can decline it, so it is reported, not counted. An instance with
``deletionProtectionEnabled`` can only be deleted by someone who can also switch it off
(``cloudsql.instances.update``).
Cloud Storage (JSON API): each bucket, with its retention policy and lock. A bucket's own
``testPermissions`` (a GET) says whether the credential may delete its objects and the bucket; a
*locked* retention policy keeps every object for its period whatever the permissions (Owners included).
Backups that outlived their instance (retained or final backups, Backups API ``projects/{p}/backups``) are
data of their own: resources of type ``database-backup`` that ``cloudsql.backupRuns.delete`` or deleting the
project destroys.
Firestore and Spanner backups are not listed: a coverage gap per project where the credential could
delete them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from auditor.errors import ProviderError
from auditor.model import Backup, CoverageGap, Credential, DestroyFact, Finding, Inventory, Resource, Severity

from .api import Forbidden, GcpApi, NotFound
from .permissions import BUCKET_PERMISSIONS, KEY_OR_TOKEN

__all__ = ["bucket_id", "escalation_refinements", "facts_from_project_permissions", "instance_id", "inventory_project"]

NAME = "gcp"


def instance_id(project: str, name: str) -> str:
    return f"gcp:cloudsql-instance:{project}/{name}"


def bucket_id(name: str) -> str:
    return f"gcp:bucket:{name}"


def _obj(parent: Any, key: str) -> dict[str, Any]:
    """``parent[key]`` when both are JSON objects, else an empty one (Google omits unset fields)."""
    value = parent.get(key) if isinstance(parent, dict) else None
    return value if isinstance(value, dict) else {}


def _when(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


# -- verdicts from the permissions a credential holds in the resource's project ---------------------------
Verdict = tuple[bool | None, str]


def project_verdict(project: str, perms: frozenset[str]) -> Verdict:
    ok = "resourcemanager.projects.delete" in perms
    return ok, f"testIamPermissions on project {project}: resourcemanager.projects.delete " + (
        "granted" if ok else "not granted"
    )


def instance_verdict(project: str, perms: frozenset[str], protected: bool) -> Verdict:
    if "cloudsql.instances.delete" not in perms:
        why, ok = "cloudsql.instances.delete not granted", False
    elif protected and "cloudsql.instances.update" not in perms:
        why, ok = (
            ("deletion protection is on and cloudsql.instances.update (needed to switch it off) is not granted"),
            False,
        )
    else:
        ok = True
        why = "cloudsql.instances.delete granted" + (
            " (and cloudsql.instances.update, which switches deletion protection off)" if protected else ""
        )
    return ok, f"testIamPermissions on project {project}: {why}"


def sql_backup_verdict(project: str, perms: frozenset[str]) -> Verdict:
    ok = bool(perms & {"cloudsql.backupRuns.delete", "resourcemanager.projects.delete"})
    return ok, (
        "cloudsql.backupRuns.delete or resourcemanager.projects.delete "
        + ("granted" if ok else "not granted")
        + f" in {project}"
    )


def bucket_verdict(project: str, perms: frozenset[str], meta: dict[str, Any]) -> Verdict:
    """Without the bucket's own testPermissions: a locked policy protects, a project-level grant deletes,
    and anything else is unknown (a grant on the bucket itself is not visible from the project)."""
    if meta.get("retention_locked"):
        days = int(meta.get("retention_period_s") or 0) // 86400
        return False, (
            f"locked retention policy: no object younger than {days} day(s) can be deleted and the "
            "bucket cannot be deleted before, by any credential"
        )
    if "storage.objects.delete" in perms:
        return True, f"storage.objects.delete granted on project {project}"
    return (None, "bucket-level grants not tested with this credential (no project-level storage.objects.delete)")


class _Collector:
    def __init__(self, api: GcpApi, cred: Credential, project: str, perms: frozenset[str]) -> None:
        self.api, self.cred, self.project, self.perms = api, cred, project, perms
        self.resources: list[Resource] = []
        self.backups: list[Backup] = []
        self.facts: list[DestroyFact] = []
        self.findings: list[Finding] = []
        self.gaps: list[CoverageGap] = []

    def gap(self, what: str, why: str) -> None:
        self.gaps.append(
            CoverageGap(
                subject=self.cred.id,
                provider=NAME,
                reason=f"{what} in project {self.project} were not inspected with {self.cred.label}: {why}",
            )
        )

    def listed(
        self, api: str, path: str, key: str, what: str, params: dict[str, Any], gap: str
    ) -> list[dict[str, Any]] | None:
        """Every item of a paginated list; None, and the coverage gap ``gap``, when it cannot be read."""
        try:
            return list(self.api.pages(api, path, key, what, params))
        except (Forbidden, NotFound, ProviderError) as exc:
            self.gap(gap, exc.message)
            return None

    def _data_resource(self, rid: str, kind: str, name: str, /, **metadata: Any) -> Resource:
        """A data-holding resource of this project; `metadata` besides the project id."""
        res = Resource(
            id=rid,
            provider=NAME,
            type=kind,
            name=name,
            parent=f"gcp:project:{self.project}",
            holds_data=True,
            metadata={"project": self.project, **metadata},
        )
        self.resources.append(res)
        return res

    def fact(self, target: str, verdict: bool | None, reason: str, cap: str) -> None:
        self.facts.append(
            DestroyFact(credential=self.cred.id, target=target, verdict=verdict, reason=reason, capability=cap)
        )

    # -- project -------------------------------------------------------------------------------------------
    def project_resource(self) -> None:
        rid = f"gcp:project:{self.project}"
        self.resources.append(
            Resource(id=rid, provider=NAME, type="project", name=self.project, metadata={"project": self.project})
        )
        self.fact(rid, *project_verdict(self.project, self.perms), "delete:project")
        home = str(self.cred.metadata.get("project_id") or "")
        destructive = sorted(p for p in self.perms if p.endswith((".delete", ".setIamPolicy")))
        if home and self.project != home and destructive:
            self.findings.append(
                Finding.make(
                    "gcp-cross-project-reach",
                    Severity.high,
                    self.cred.id,
                    f"{self.cred.label} (home project {home}) can {', '.join(destructive)} in project {self.project}.",
                    f"Remove the grants of {self.cred.principal or 'this principal'} in {self.project}, or give each "
                    "project its own service account.",
                    provider=NAME,
                )
            )

    # -- Cloud SQL -----------------------------------------------------------------------------------------
    def cloudsql(self) -> None:
        instances = self.listed(
            "sqladmin",
            f"/v1/projects/{self.project}/instances",
            "items",
            f"Cloud SQL instances of {self.project}",
            {"maxResults": 100},
            "Cloud SQL instances",
        )
        if instances is None:
            return
        for inst in instances:
            self._instance(inst)
        self._orphaned_backups({str(i.get("name")) for i in instances})

    def _orphaned_backups(self, live: set[str]) -> None:
        """Retained and final backups of deleted instances (Backups API): data of their own, in the project."""
        found = self.listed(
            "sqladmin",
            f"/v1/projects/{self.project}/backups",
            "backups",
            f"Cloud SQL backups of {self.project}",
            {"pageSize": 500},
            "Cloud SQL backups of deleted instances",
        )
        if found is None:
            return
        for b in found:
            name, inst = str(b.get("name") or ""), str(b.get("instance") or "")
            if not name or (inst in live and not b.get("instanceDeletionTime")):
                continue  # a live instance's backups are its backup runs
            rid = f"gcp:cloudsql-backup:{name}"
            self._data_resource(
                rid,
                "database-backup",
                f"{inst} ({b.get('type')}, {name.rsplit('/', 1)[-1]})",
                instance=inst,
                type=b.get("type"),
                state=b.get("state"),
                instance_deleted_at=b.get("instanceDeletionTime"),
                expires_at=b.get("expiryTime"),
                database_version=b.get("databaseVersion"),
            )
            ok, why = sql_backup_verdict(self.project, self.perms)
            self.fact(rid, ok, f"{why}: the backup of deleted instance {inst}", "delete:backup")

    def _instance(self, inst: dict[str, Any]) -> None:
        name = str(inst.get("name") or "")
        if not name:
            return
        settings = _obj(inst, "settings")
        backup_cfg = _obj(settings, "backupConfiguration")
        retention = _obj(backup_cfg, "backupRetentionSettings")
        final = _obj(settings, "finalBackupConfig")
        protected = bool(settings.get("deletionProtectionEnabled"))
        retained = bool(settings.get("retainBackupsOnDelete"))
        enhanced = str(backup_cfg.get("backupTier") or "").upper() == "ENHANCED"
        conn = str(inst.get("connectionName") or f"{self.project}:{inst.get('region')}:{name}")
        public = [
            str(a.get("ipAddress"))
            for a in inst.get("ipAddresses") or ()
            if isinstance(a, dict) and a.get("type") == "PRIMARY" and a.get("ipAddress")
        ]
        engine = str(inst.get("databaseVersion") or "")
        # Blastwall's own backups name their source postgres://host:port/db; Cloud SQL serves one server per
        # IP (and per connector socket), so any port and database there is this instance
        refs = (
            [f"postgres://{ip}:*/*" for ip in public] + [f"postgres:///cloudsql/{conn}:*/*"]
            if engine.startswith("POSTGRES")
            else []
        )
        rid = instance_id(self.project, name)
        self._data_resource(
            rid,
            "database",
            name,
            engine=engine,
            region=inst.get("region"),
            state=inst.get("state"),
            connection_name=conn,
            public_ips=public,
            deletion_protection=protected,
            backups_enabled=bool(backup_cfg.get("enabled")),
            point_in_time_recovery=bool(backup_cfg.get("pointInTimeRecoveryEnabled")),
            retained_backups=retention.get("retainedBackups"),
            retain_backups_on_delete=retained,
            final_backup={"enabled": bool(final.get("enabled")), "retention_days": final.get("retentionDays")},
            backup_tier=backup_cfg.get("backupTier"),
            source_refs=refs,
        )
        self.fact(rid, *instance_verdict(self.project, self.perms, protected), "delete:database")
        self._backup_runs(rid, name, retained, enhanced, bool(final.get("enabled")))

    def _backup_runs(self, rid: str, name: str, retained: bool, enhanced: bool, final: bool) -> None:
        runs = self.listed(
            "sqladmin",
            f"/v1/projects/{self.project}/instances/{name}/backupRuns",
            "items",
            f"backup runs of {name}",
            {"maxResults": 100},
            f"backup runs of Cloud SQL instance {name}",
        )
        if runs is None:
            return
        for run in runs:
            if str(run.get("status") or "") in ("FAILED", "SKIPPED", "DELETED", "DELETION_PENDING"):
                continue
            bid = f"gcp:cloudsql-backup-run:{self.project}/{name}/{run.get('id')}"
            reasons = []
            if enhanced:
                dies: bool | None = None
                reasons.append(
                    "Enhanced backup tier (Backup and DR): stored in a backup vault whose retention "
                    "Blastwall did not inspect."
                )
            elif retained:
                dies = False
                reasons.append(
                    "retainBackupsOnDelete is set: the backup outlives the instance, but stays in project "
                    f"{self.project}, where cloudsql.backupRuns.delete or deleting the project removes it."
                )
            else:
                dies = True
                reasons.append(
                    "Cloud SQL deletes automated and on-demand backups together with the instance "
                    "(retainBackupsOnDelete is not set)."
                )
            if final:
                reasons.append(
                    "A final backup is configured, but it is only taken by the deletion itself, which can "
                    "decline it, and it can be deleted like any other backup."
                )
            kind = str(run.get("type") or "AUTOMATED").lower()
            self.backups.append(
                Backup(
                    id=bid,
                    provider=NAME,
                    protects=rid,
                    kind=kind,
                    location=f"Cloud SQL backup of {name} ({run.get('location') or 'default location'}), project "
                    f"{self.project}",
                    created_at=_when(run.get("endTime") or run.get("enqueuedTime")),
                    dies_with_resource=dies,
                    independent=False if not enhanced else None,
                    reasons=tuple(reasons),
                    metadata={
                        "project": self.project,
                        "status": run.get("status"),
                        "type": run.get("type"),
                        "backup_kind": run.get("backupKind"),
                        "retain_on_delete": retained,
                    },
                )
            )
            self.fact(bid, *sql_backup_verdict(self.project, self.perms), "delete:backup")

    # -- Cloud Storage -------------------------------------------------------------------------------------
    def buckets(self) -> None:
        buckets = self.listed(
            "storage",
            "/storage/v1/b",
            "items",
            f"buckets of {self.project}",
            {"project": self.project, "maxResults": 200, "projection": "noAcl"},
            "Cloud Storage buckets",
        )
        if buckets is None:
            return
        for b in buckets:
            self._bucket(b)

    def _bucket(self, b: dict[str, Any]) -> None:
        name = str(b.get("name") or "")
        if not name:
            return
        policy = _obj(b, "retentionPolicy")
        try:
            period = int(policy.get("retentionPeriod") or 0)
        except (TypeError, ValueError):
            period = 0
        locked = bool(policy.get("isLocked")) and period > 0
        soft = _obj(b, "softDeletePolicy")
        rid = bucket_id(name)
        self._data_resource(
            rid,
            "bucket",
            name,
            location=b.get("location"),
            retention_period_s=period or None,
            retention_locked=locked,
            retention_unlocked=bool(period) and not locked,
            soft_delete_s=soft.get("retentionDurationSeconds"),
            versioning=bool(_obj(b, "versioning").get("enabled")),
            object_retention=_obj(b, "objectRetention").get("mode"),
        )
        if locked:
            self.fact(rid, *bucket_verdict(self.project, self.perms, self.resources[-1].metadata), "delete:bucket")
            return
        try:
            body = self.api.get(
                "storage",
                f"/storage/v1/b/{name}/iam/testPermissions",
                f"permissions on {name}",
                {"permissions": list(BUCKET_PERMISSIONS)},
            )
            held = {str(p) for p in body.get("permissions") or () if isinstance(p, str)}
        except (Forbidden, NotFound, ProviderError) as exc:
            ok, why = bucket_verdict(self.project, self.perms, self.resources[-1].metadata)
            self.fact(rid, ok, f"{why}; the bucket's own permissions were not tested ({exc.message})", "delete:bucket")
            return
        if "storage.objects.delete" in held:
            extra = (
                " (an unlocked retention policy does not stop it: storage.buckets.update removes it)" if period else ""
            )
            self.fact(rid, True, f"testPermissions on {name}: storage.objects.delete granted{extra}", "delete:bucket")
        else:
            self.fact(rid, False, f"testPermissions on {name}: storage.objects.delete not granted", "delete:bucket")

    def other_backups(self) -> None:
        if self.perms & {
            "spanner.databases.drop",
            "spanner.backups.delete",
            "datastore.databases.delete",
            "datastore.backups.delete",
        }:
            self.gap(
                "Firestore and Spanner databases and backups",
                "not listed by Blastwall yet, and the credential may delete them",
            )

    def result(self) -> Inventory:
        return Inventory(
            resources=tuple(self.resources),
            backups=tuple(self.backups),
            facts=tuple(self.facts),
            findings=tuple(self.findings),
            gaps=tuple(self.gaps),
        )


def inventory_project(api: GcpApi, cred: Credential, project: str, perms: frozenset[str]) -> Inventory:
    c = _Collector(api, cred, project, perms)
    c.project_resource()
    c.cloudsql()
    c.buckets()
    c.other_backups()
    return c.result()


def facts_from_project_permissions(creds: Sequence[Credential], inv: Inventory) -> tuple[DestroyFact, ...]:
    """Every resource and backup found in a project (by whichever credential could list it) gets a fact for
    every credential whose permissions in that project were tested, also when that credential could not
    list it: the permissions decide, not the listing."""
    have = {(f.credential, f.target) for f in inv.facts}
    out: list[DestroyFact] = []
    for c in creds:
        tested = c.metadata.get("permissions") if c.status.value == "verified" else None
        if not isinstance(tested, dict):
            continue
        for r in inv.resources:
            project = str(r.metadata.get("project") or "")
            if project not in tested or (c.id, r.id) in have:
                continue
            perms = frozenset(tested[project])
            if r.type == "project":
                v, cap = project_verdict(project, perms), "delete:project"
            elif r.type == "database":
                v, cap = (
                    instance_verdict(project, perms, bool(r.metadata.get("deletion_protection"))),
                    "delete:database",
                )
            elif r.type == "database-backup":
                v, cap = sql_backup_verdict(project, perms), "delete:backup"
            elif r.type == "bucket":
                v, cap = bucket_verdict(project, perms, r.metadata), "delete:bucket"
            else:
                continue
            out.append(DestroyFact(credential=c.id, target=r.id, verdict=v[0], reason=v[1], capability=cap))
        for b in inv.backups:
            project = str(b.metadata.get("project") or "")
            if project in tested and (c.id, b.id) not in have:
                ok, why = sql_backup_verdict(project, frozenset(tested[project]))
                out.append(
                    DestroyFact(credential=c.id, target=b.id, verdict=ok, reason=why, capability="delete:backup")
                )
    return tuple(out)


def escalation_refinements(creds: Sequence[Credential], inv: Inventory) -> Inventory:
    """A credential that can mint keys or tokens for another audited, root-equivalent service account is
    root-equivalent through that edge, and can destroy what that account can."""
    by_principal = {c.principal: c for c in creds if c.principal and c.status.value == "verified"}
    refined: list[Credential] = []
    facts: list[DestroyFact] = []
    for c in creds:
        if c.status.value != "verified":
            continue
        minted = [e for e in c.metadata.get("edges") or () if set(e.get("via") or ()) & KEY_OR_TOKEN]
        targets = [by_principal.get(e.get("target")) for e in minted]
        if (
            c.root_equivalent is None
            and c.metadata.get("own_verdict") is False
            and minted
            and all(t is not None and t.root_equivalent is False for t in targets)
        ):
            names = ", ".join(sorted(str(t.principal) for t in targets if t is not None))
            c = c.model_copy(
                update={
                    "root_equivalent": False,
                    "reasons": c.reasons
                    + (
                        f"Not root-equivalent: the accounts it can become ({names}) are audited "
                        "too and are not root-equivalent themselves.",
                    ),
                }
            )
            refined.append(c)
        for e in c.metadata.get("edges") or ():
            via = set(e.get("via") or ()) & KEY_OR_TOKEN
            target = by_principal.get(e.get("target"))
            if not via or target is None or target.id == c.id:
                continue
            how = f"through {', '.join(sorted(via))} on {target.principal}"
            facts += [
                f.model_copy(update={"credential": c.id, "reason": f"{how}: {f.reason}"})
                for f in inv.facts
                if f.credential == target.id and f.verdict is True
            ]
            if target.root_equivalent is True and c.root_equivalent is not True:
                c = c.model_copy(
                    update={
                        "root_equivalent": True,
                        "reasons": c.reasons
                        + (
                            f"Root-equivalent through an escalation edge: can mint credentials for "
                            f"{target.principal} ({', '.join(sorted(via))}), which is itself "
                            "root-equivalent.",
                        ),
                    }
                )
                refined.append(c)
    return Inventory(credentials=tuple(refined), facts=tuple(facts))
