"""Railway inventory: workspaces → projects → environments → services → volume instances → backups.

Each project/environment is explored once, with the first credential that reaches it; every
credential then gets destroy facts for what it reaches. Nothing here writes, and no secret value
(variable values, connection strings) is ever fetched: public-URL existence comes from variable
*names* and TCP proxies.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from auditor.errors import ConfigError, ProviderError, ProviderUnavailable
from auditor.http import RequestAuth
from auditor.model import (
    Backup,
    CoverageGap,
    Credential,
    DestroyFact,
    Finding,
    Inventory,
    Resource,
    Severity,
    SourceCategory,
    Status,
)
from auditor.provider import ProviderContext

from . import queries as Q
from .client import RailwayGraphQL, RailwayNotAuthorized, auth_for
from .identity import _scrubber

__all__ = ["run_inventory", "database_kind", "SCHEDULE_INTERVAL"]

log = logging.getLogger(__name__)
P = "railway"

SCHEDULE_INTERVAL = {"DAILY": timedelta(days=1), "WEEKLY": timedelta(days=7), "MONTHLY": timedelta(days=30)}
STALE_FACTOR = 1.5

_DB_IMAGES = (
    ("postgres", ("postgres", "postgis", "timescale", "pgvector")),
    ("mysql", ("mysql", "mariadb")),
    ("redis", ("redis", "valkey", "keydb")),
    ("mongo", ("mongo",)),
)
_PUBLIC_URL_VARS = {
    "postgres": ("DATABASE_PUBLIC_URL",),
    "mysql": ("MYSQL_PUBLIC_URL",),
    "redis": ("REDIS_PUBLIC_URL",),
    "mongo": ("MONGO_PUBLIC_URL",),
}

BACKUP_REASON = (
    "Railway volume backups live inside Railway and are deleted when the volume is wiped "
    '("Wiping a volume deletes all backups"); in the April 2026 incident volumeDelete removed the '
    "volume and all volume-level backups. Any token that can delete the volume can also delete "
    "the backups (volumeInstanceBackupDelete)."
)


def database_kind(image: str | None, name: str | None = None) -> str | None:
    """postgres / mysql / redis / mongo from a service image (or, failing that, its template name)."""
    for text in (image, name):
        if not text:
            continue
        low = text.lower()
        for kind, needles in _DB_IMAGES:
            if any(n in low for n in needles):
                return kind
    return None


def _dt(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        d = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def _newest(backups: list[dict[str, Any]]) -> str | None:
    newest = max((d for d in (_dt(b.get("createdAt")) for b in backups) if d), default=None)
    return newest.isoformat() if newest else None


def rid(kind: str, ident: str) -> str:
    return f"railway:{kind}:{ident}"


@dataclass
class Env:
    id: str
    name: str
    project_id: str
    complete: bool = False
    services: dict[str, dict[str, Any]] = field(default_factory=dict)  # serviceId -> service instance node
    volumes: list[dict[str, Any]] = field(default_factory=list)  # volume instance nodes
    var_names: dict[str, set[str]] = field(default_factory=dict)  # serviceId -> variable names
    backups: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # volume instance id -> backups
    schedules: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    tcp: dict[str, bool | None] = field(default_factory=dict)  # serviceId -> has a TCP proxy
    proxies: dict[str, list[str]] = field(default_factory=dict)  # serviceId -> ["domain:proxyPort", ...]


@dataclass
class Project:
    id: str
    name: str
    workspace_id: str | None
    env_ids: list[str] = field(default_factory=list)
    complete: bool = False


class _Explorer:
    def __init__(self, client: RailwayGraphQL, page_size: int) -> None:
        self.c = client
        self.page_size = page_size
        self.workspaces: dict[str, str] = {}  # id -> name
        self.ws_projects: dict[str, list[str]] = {}
        self.projects: dict[str, Project] = {}
        self.envs: dict[str, Env] = {}
        self.gaps: list[CoverageGap] = []

    def gap(self, subject: str, reason: str) -> None:
        self.gaps.append(CoverageGap(subject=subject, reason=reason, provider=P))

    # -- projects ------------------------------------------------------------------------------
    def workspace_projects(self, ws_id: str, ws_name: str, auth: RequestAuth) -> list[str]:
        self.workspaces.setdefault(ws_id, ws_name)
        if ws_id in self.ws_projects:
            return self.ws_projects[ws_id]
        ids: list[str] = []
        for node in self.c.paginate(
            Q.WORKSPACE_PROJECTS, {"workspaceId": ws_id}, ("workspace", "projects"), auth=auth, page_size=self.page_size
        ):
            pid = str(node["id"])
            ids.append(pid)
            self.projects.setdefault(pid, Project(pid, str(node.get("name") or pid), node.get("workspaceId") or ws_id))
        self.ws_projects[ws_id] = ids
        return ids

    def explore_project(self, pid: str, auth: RequestAuth) -> None:
        p = self.projects.get(pid)
        if p is not None and p.complete:
            return
        if p is None:
            node = self.c.query(Q.PROJECT, {"id": pid}, auth=auth)["project"]
            ws = node.get("workspace") or {}
            p = self.projects[pid] = Project(pid, str(node.get("name") or pid), node.get("workspaceId"))
            if ws.get("id"):
                self.workspaces.setdefault(str(ws["id"]), str(ws.get("name") or ws["id"]))
        env_ids = []
        for node in self.c.paginate(
            Q.PROJECT_ENVIRONMENTS, {"id": pid}, ("project", "environments"), auth=auth, page_size=self.page_size
        ):
            eid = str(node["id"])
            env_ids.append(eid)
            self.envs.setdefault(eid, Env(eid, str(node.get("name") or eid), pid))
        p.env_ids = env_ids
        for eid in env_ids:
            self.explore_env(eid, pid, auth)
        p.complete = True

    # -- environments -----------------------------------------------------------------------------
    def explore_env(self, eid: str, pid: str, auth: RequestAuth, name: str | None = None) -> None:
        env = self.envs.setdefault(eid, Env(eid, name or eid, pid))
        if env.complete:
            return
        v = {"id": eid, "projectId": pid}
        for node in self.c.paginate(
            Q.ENVIRONMENT_SERVICE_INSTANCES, v, ("environment", "serviceInstances"), auth=auth, page_size=self.page_size
        ):
            env.services[str(node["serviceId"])] = node
        env.volumes = list(
            self.c.paginate(
                Q.ENVIRONMENT_VOLUME_INSTANCES,
                v,
                ("environment", "volumeInstances"),
                auth=auth,
                page_size=self.page_size,
            )
        )
        try:
            for node in self.c.paginate(
                Q.ENVIRONMENT_VARIABLE_NAMES, v, ("environment", "variables"), auth=auth, page_size=self.page_size
            ):
                env.var_names.setdefault(str(node.get("serviceId") or ""), set()).add(str(node["name"]))
        except RailwayNotAuthorized:
            env.var_names = {}
        for vi in env.volumes:
            vid = str(vi["id"])
            subject = f"railway volume instance {vid}"
            try:
                env.backups[vid] = list(
                    self.c.query(Q.BACKUPS, {"volumeInstanceId": vid}, auth=auth)["volumeInstanceBackupList"]
                )
            except RailwayNotAuthorized as exc:
                self.gap(subject, f"backups could not be listed ({exc.message})")
            try:
                env.schedules[vid] = list(
                    self.c.query(Q.BACKUP_SCHEDULES, {"volumeInstanceId": vid}, auth=auth)[
                        "volumeInstanceBackupScheduleList"
                    ]
                )
            except RailwayNotAuthorized as exc:
                self.gap(subject, f"backup schedules could not be listed ({exc.message})")
            sid = str(vi.get("serviceId") or "")
            si = env.services.get(sid) or {}
            kind = database_kind((si.get("source") or {}).get("image"), si.get("serviceName"))
            if kind and sid and sid not in env.tcp:
                try:
                    proxies = self.c.query(Q.TCP_PROXIES, {"environmentId": eid, "serviceId": sid}, auth=auth)
                    env.tcp[sid] = bool(proxies["tcpProxies"])
                    env.proxies[sid] = [
                        f"{x['domain']}:{x['proxyPort']}".lower()
                        for x in proxies["tcpProxies"]
                        if x.get("domain") and x.get("proxyPort")
                    ]
                except RailwayNotAuthorized:
                    env.tcp[sid] = None
        env.complete = True


def _order(c: Credential) -> int:
    return {"account_token": 0, "cli_login": 1, "workspace_token": 2, "project_token": 3}.get(c.kind, 9)


def run_inventory(credentials: Sequence[Credential], ctx: ProviderContext) -> Inventory:
    creds = sorted((c for c in credentials if c.provider == P), key=_order)
    if not creds:
        return Inventory()
    findings: list[Finding] = list(_token_findings(creds))
    gaps: list[CoverageGap] = []
    live = []
    for c in creds:
        if c.status == Status.error:
            gaps.append(
                CoverageGap(
                    subject=c.label,
                    provider=P,
                    reason="could not be identified, so what it reaches "
                    f"was not inventoried: {c.metadata.get('error', 'unknown error')}",
                )
            )
        elif c.status == Status.invalid:
            continue
        elif c.status == Status.unverified:
            why = "offline audit" if ctx.offline else "not verified with Railway"
            gaps.append(CoverageGap(subject=c.label, provider=P, reason=f"{why}: what it reaches was not inventoried"))
        else:
            live.append(c)
    if not live:
        return Inventory(findings=tuple(findings), gaps=tuple(gaps))
    try:
        client = RailwayGraphQL.from_context(ctx, scrub=_scrubber(list(creds)))
    except ConfigError as exc:
        gaps.append(CoverageGap(subject="railway", provider=P, reason=f"bad endpoint: {exc.message}"))
        return Inventory(findings=tuple(findings), gaps=tuple(gaps))
    page_size = int(ctx.settings.get("page_size", 100))
    ex = _Explorer(client, page_size)
    reach: dict[str, set[str]] = {}  # credential id -> environment ids
    try:
        for i, c in enumerate(live):
            try:
                reach[c.id] = _explore_for(ex, c)
            except ProviderUnavailable as exc:
                for rest in live[i:]:
                    gaps.append(
                        CoverageGap(
                            subject=rest.label,
                            provider=P,
                            reason="Railway became unavailable "
                            f"during inventory, what it reaches is incomplete: {exc.message}",
                        )
                    )
                break
            except ProviderError as exc:
                gaps.append(CoverageGap(subject=c.label, provider=P, reason=f"inventory incomplete: {exc.message}"))
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                gaps.append(
                    CoverageGap(
                        subject=c.label,
                        provider=P,
                        reason=f"inventory incomplete: Railway answered in an unexpected shape ({type(exc).__name__})",
                    )
                )
    finally:
        client.close()
    gaps += ex.gaps
    try:
        resources, backups, facts, more = _build(ex, live, reach, ctx.clock())
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        log.debug("railway: could not interpret the inventory", exc_info=True)
        gaps.append(
            CoverageGap(
                subject="railway inventory",
                provider=P,
                reason=f"not inspected: Railway answered in an unexpected shape ({type(exc).__name__})",
            )
        )
        return Inventory(findings=tuple(findings), gaps=tuple(gaps))
    findings += more
    return Inventory(
        resources=tuple(resources),
        backups=tuple(backups),
        facts=tuple(facts),
        findings=tuple(findings),
        gaps=tuple(gaps),
    )


def _explore_for(ex: _Explorer, c: Credential) -> set[str]:
    envs: set[str] = set()
    if c.kind == "project_token":
        auth = auth_for("project_token", c.secret)
        pid, eid = str(c.metadata.get("project_id")), str(c.metadata.get("environment_id"))
        ex.projects.setdefault(
            pid, Project(pid, str(c.metadata.get("project_name") or pid), c.metadata.get("workspace_id"))
        )
        ex.explore_env(eid, pid, auth, name=c.metadata.get("environment_name"))
        envs.add(eid)
        return envs
    auth = auth_for("bearer", c.secret)
    pids: list[str] = []
    for w in c.metadata.get("workspaces") or ():
        try:
            pids += ex.workspace_projects(str(w["id"]), str(w.get("name") or w["id"]), auth)
        except ProviderUnavailable:
            raise
        except RailwayNotAuthorized as exc:
            ex.gap(
                f"railway workspace {w.get('name') or w['id']}",
                f"{c.label}: projects could not be listed ({exc.message}); it may be outside this token's scope",
            )
        except ProviderError as exc:
            ex.gap(
                f"railway workspace {w.get('name') or w['id']}",
                f"{c.label}: projects could not be listed ({exc.message})",
            )
    if c.kind in ("account_token", "cli_login"):
        try:
            for w in ex.c.query(Q.EXTERNAL_WORKSPACES, auth=auth)["externalWorkspaces"]:
                if w.get("currentSessionHasAccess") is False:
                    continue
                ex.workspaces.setdefault(str(w["id"]), str(w["name"]))
                for p in w.get("projects") or ():
                    pid = str(p["id"])
                    ex.projects.setdefault(
                        pid, Project(pid, str(p.get("name") or pid), p.get("workspaceId") or w["id"])
                    )
                    pids.append(pid)
        except RailwayNotAuthorized:
            pass  # not granted to this session: the workspaces above are what it reaches
    for pid in dict.fromkeys(pids):
        try:
            ex.explore_project(pid, auth)
        except ProviderUnavailable:
            raise
        except ProviderError as exc:  # one bad project must not hide the others
            name = ex.projects[pid].name if pid in ex.projects else pid
            ex.gap(f"railway project {name}", f"{c.label}: not (fully) inventoried ({exc.message})")
            continue
        envs.update(ex.projects[pid].env_ids)
    return envs


_DEFAULT_PORTS = {"postgres": 5432, "mysql": 3306, "redis": 6379, "mongo": 27017}


def _endpoints(db: str | None, si: dict[str, Any], proxies: list[str]) -> list[str]:
    """TCP proxy ``domain:port`` pairs, and the private ``<service>.railway.internal:<port>`` (Railway's default
    private domain is the service name in lower case; the port is the image's default)."""
    if not db:
        return []
    out = list(proxies)
    name = str(si.get("serviceName") or "").strip().lower().replace(" ", "-")
    if name:
        out.append(f"{name}.railway.internal:{_DEFAULT_PORTS[db]}")
    return out


def _volume_name(vi: dict[str, Any]) -> str:
    return str((vi.get("volume") or {}).get("name") or vi.get("volumeId") or vi["id"])


def _build(
    ex: _Explorer, creds: Sequence[Credential], reach: dict[str, set[str]], now: datetime
) -> tuple[list[Resource], list[Backup], list[DestroyFact], list[Finding]]:
    resources: dict[str, Resource] = {}
    backups: list[Backup] = []
    findings: list[Finding] = []
    vol_of_env: dict[str, list[tuple[str, list[str]]]] = {}  # env id -> [(vi resource id, [backup ids])]
    db_vols: set[str] = set()

    for wid, wname in ex.workspaces.items():
        resources[rid("workspace", wid)] = Resource(id=rid("workspace", wid), provider=P, type="workspace", name=wname)
    for p in ex.projects.values():
        parent = rid("workspace", p.workspace_id) if p.workspace_id and p.workspace_id in ex.workspaces else None
        resources[rid("project", p.id)] = Resource(
            id=rid("project", p.id),
            provider=P,
            type="project",
            name=p.name,
            parent=parent,
            metadata={"workspace_id": p.workspace_id},
        )
    for env in ex.envs.values():
        proj = ex.projects.get(env.project_id)
        env_rid = rid("environment", env.id)
        resources[env_rid] = Resource(
            id=env_rid,
            provider=P,
            type="environment",
            name=f"{proj.name if proj else env.project_id}/{env.name}",
            parent=rid("project", env.project_id),
        )
        for sid, si in env.services.items():
            image = (si.get("source") or {}).get("image")
            kind = database_kind(image, si.get("serviceName"))
            resources[rid("service-instance", str(si["id"]))] = Resource(
                id=rid("service-instance", str(si["id"])),
                provider=P,
                type="database" if kind else "service",
                name=str(si.get("serviceName") or sid),
                parent=env_rid,
                metadata={
                    "service_id": sid,
                    "image": image,
                    "repo": (si.get("source") or {}).get("repo"),
                    "database": kind,
                },
            )
        for vi in env.volumes:
            vid = str(vi["id"])
            vi_rid = rid("volume-instance", vid)
            sid = str(vi.get("serviceId") or "")
            si = env.services.get(sid) or {}
            db = database_kind((si.get("source") or {}).get("image"), si.get("serviceName"))
            public: bool | None = None
            if db:
                names = env.var_names.get(sid, set())
                by_name = any(n in names for n in _PUBLIC_URL_VARS[db])
                tcp = env.tcp.get(sid)
                public = True if (by_name or tcp) else (None if tcp is None and not env.var_names else False)
            label = f"{proj.name if proj else env.project_id}/{env.name}/{si.get('serviceName') or sid or '-'}:{_volume_name(vi)}"
            meta = {
                "volume_id": vi.get("volumeId"),
                "volume_name": _volume_name(vi),
                "project_id": env.project_id,
                "project": proj.name if proj else None,
                "environment_id": env.id,
                "environment": env.name,
                "workspace_id": proj.workspace_id if proj else None,
                "service_id": sid or None,
                "service": si.get("serviceName"),
                "image": (si.get("source") or {}).get("image"),
                "database": db,
                "mount_path": vi.get("mountPath"),
                "size_mb": vi.get("sizeMB"),
                "current_size_mb": vi.get("currentSizeMB"),
                "state": vi.get("state"),
                "region": vi.get("region"),
                "pending_deletion": bool(vi.get("isPendingDeletion")),
                "deletes_at": vi.get("deletedAt") if vi.get("isPendingDeletion") else None,
                "public_url_exists": public,
                # how database URLs reach it (matched against the hosts of URLs found on the machine)
                "endpoints": _endpoints(db, si, env.proxies.get(sid, [])),
                "backup_schedules": None
                if vid not in env.schedules
                else [
                    {"kind": x.get("kind"), "cron": x.get("cron"), "retention_seconds": x.get("retentionSeconds")}
                    for x in env.schedules[vid]
                ],
                "backup_count": len(env.backups[vid]) if vid in env.backups else None,
                "newest_backup_at": _newest(env.backups.get(vid, [])),
                # how a [[sources]] railway = {project, environment, service} entry names this database, so the
                # audit can tell which off-platform backup protects this volume (by name or by project id)
                "source_refs": [
                    f"railway:{p_}/{env.name}/{si.get('serviceName')}"
                    for p_ in dict.fromkeys([proj.name if proj else None, env.project_id])
                    if p_
                ]
                if si.get("serviceName")
                else [],
            }
            parent = rid("service-instance", str(si["id"])) if si.get("id") else env_rid
            resources[vi_rid] = Resource(
                id=vi_rid, provider=P, type="volume", name=label, parent=parent, holds_data=True, metadata=meta
            )
            if db:
                db_vols.add(vi_rid)
            sched = {str(s["id"]): s for s in env.schedules.get(vid, [])}
            bids = []
            for b in env.backups.get(vid, []):
                bid = rid("backup", str(b["id"]))
                bids.append(bid)
                s = sched.get(str(b.get("scheduleId") or ""))
                backups.append(
                    Backup(
                        id=bid,
                        provider=P,
                        protects=vi_rid,
                        location=f"inside Railway: backup of volume {_volume_name(vi)} ({label})",
                        kind=f"railway-{(s or {}).get('kind', 'scheduled' if b.get('scheduleId') else 'manual').lower()}",
                        created_at=_dt(b.get("createdAt")),
                        dies_with_resource=True,
                        independent=False,
                        survives_contents_loss=True,  # a volume snapshot: a DROP/DELETE/FLUSH inside does not touch it
                        reasons=(BACKUP_REASON,),
                        metadata={
                            "label": "Railway's volume backups",
                            "name": b.get("name"),
                            "expires_at": b.get("expiresAt"),
                            "used_mb": b.get("usedMB"),
                            "referenced_mb": b.get("referencedMB"),
                            "schedule_id": b.get("scheduleId"),
                            "schedule_kind": (s or {}).get("kind"),
                            "volume_instance_id": vid,
                        },
                    )
                )
            vol_of_env.setdefault(env.id, []).append((vi_rid, bids))
            findings += _volume_findings(vi_rid, label, db, meta, env.schedules.get(vid), env.backups.get(vid), now)

    facts: list[DestroyFact] = []
    env_project = {e.id: e.project_id for e in ex.envs.values()}
    for c in creds:
        reached = reach.get(c.id, set())
        own_ws = {str(w["id"]) for w in c.metadata.get("workspaces") or ()}
        for eid, vols in vol_of_env.items():
            pid = env_project.get(eid, "")
            ws = ex.projects[pid].workspace_id if pid in ex.projects else None
            for vi_rid, bids in vols:
                verdict: bool | None
                if c.kind == "project_token":
                    if eid in reached:
                        verdict, why = (
                            None,
                            (
                                "project token of this environment: whether it may call volumeDelete "
                                "or volumeInstanceBackupDelete is undocumented (possible, not proven)"
                            ),
                        )
                    elif pid == c.metadata.get("project_id"):
                        verdict, why = (
                            None,
                            (
                                "project token of another environment of this project: volumeDelete "
                                "acts on the whole volume, in every environment; undocumented"
                            ),
                        )
                    else:
                        verdict, why = (
                            False,
                            (
                                "project tokens only authenticate requests to their own environment "
                                "(Railway docs); this volume is in another project"
                            ),
                        )
                elif eid in reached:
                    verdict, why = (
                        True,
                        (
                            f"{c.kind.replace('_', ' ')} reaching this project: Railway tokens have "
                            "no scopes, volumeDelete and volumeInstanceBackupDelete are open to it"
                        ),
                    )
                elif ws is not None and own_ws and ws not in own_ws:
                    verdict, why = (
                        False,
                        (
                            "outside every workspace this token reaches (Railway's apiToken lists "
                            "them); Railway refuses it there"
                        ),
                    )
                else:
                    verdict, why = (None, "in a workspace this token reaches, but the project could not be listed")
                facts.append(
                    DestroyFact(credential=c.id, target=vi_rid, verdict=verdict, capability="delete:volume", reason=why)
                )
                facts += [
                    DestroyFact(
                        credential=c.id,
                        target=b,
                        verdict=verdict,
                        capability="delete:backup",
                        reason=why + ("; the backup also dies with the volume" if verdict else ""),
                    )
                    for b in bids
                ]
    return list(resources.values()), backups, facts, findings


def _volume_findings(
    vi_rid: str,
    label: str,
    db: str | None,
    meta: dict[str, Any],
    schedules: list[dict[str, Any]] | None,
    backups: list[dict[str, Any]] | None,
    now: datetime,
) -> list[Finding]:
    out: list[Finding] = []
    what = f"{db} database volume" if db else "volume"
    if db:
        n = len(backups or [])
        out.append(
            Finding.make(
                "railway.database-no-offplatform-backup",
                Severity.high,
                vi_rid,
                f"Railway {what} {label} has no backup outside Railway that Railway knows of: "
                + (
                    "its Railway backups could not be listed."
                    if backups is None
                    else f"its {n} Railway backup(s) are deleted together with the volume, by any token that can delete it."
                    if n
                    else "it has no Railway backup either."
                ),
                "Keep a logical dump off Railway (e.g. `blastwall backup`, or pg_dump to storage no Railway token can "
                "delete) and verify that it restores.",
                provider=P,
            )
        )
    if schedules is not None and not schedules:
        out.append(
            Finding.make(
                "railway.no-backup-schedule",
                Severity.high if db else Severity.medium,
                vi_rid,
                f"Railway {what} {label} has no backup schedule.",
                "Enable daily backups for the volume in Railway (Volume → Backups) and keep an off-platform dump too.",
                provider=P,
            )
        )
    if schedules:
        kinds = [str(s.get("kind")) for s in schedules if str(s.get("kind")) in SCHEDULE_INTERVAL]
        if kinds:
            interval = min(SCHEDULE_INTERVAL[k] for k in kinds)
            limit = interval * STALE_FACTOR
            newest = max((d for d in (_dt(b.get("createdAt")) for b in backups or []) if d), default=None)
            since = min((d for d in (_dt(s.get("createdAt")) for s in schedules) if d), default=None)
            if backups is not None and newest is None and (since is None or now - since > limit):
                out.append(
                    Finding.make(
                        "railway.backup-stale",
                        Severity.high if db else Severity.medium,
                        vi_rid,
                        f"Railway {what} {label} has a {'/'.join(kinds).lower()} backup schedule but no backup at all.",
                        "Check the volume's backups in Railway; the schedule is not producing backups.",
                        provider=P,
                    )
                )
            elif newest is not None and now - newest > limit:
                age_h = int((now - newest).total_seconds() // 3600)
                out.append(
                    Finding.make(
                        "railway.backup-stale",
                        Severity.medium,
                        vi_rid,
                        f"Newest Railway backup of {what} {label} is {age_h} h old, older than its "
                        f"{min(kinds, key=lambda k: SCHEDULE_INTERVAL[k]).lower()} schedule implies.",
                        "Check why scheduled backups stopped; take a manual backup and an off-platform dump now.",
                        provider=P,
                    )
                )
    if meta.get("pending_deletion"):
        out.append(
            Finding.make(
                "railway.volume-pending-deletion",
                Severity.high,
                vi_rid,
                f"Railway {what} {label} is queued for deletion (deletes at {meta.get('deletes_at') or 'unknown'}).",
                "If this was not intended, restore it from the link in Railway's e-mail within 48 hours.",
                provider=P,
            )
        )
    if db and meta.get("public_url_exists"):
        out.append(
            Finding.make(
                "railway.database-public-url",
                Severity.low,
                vi_rid,
                f"Railway {db} database {label} is reachable from the internet (a public TCP proxy URL exists).",
                "Disable Public Networking for the database unless something outside Railway needs it.",
                provider=P,
            )
        )
    return out


_AGENT_READABLE = {
    SourceCategory.agent_config: "an AI-agent configuration file (agents read it by design)",
    SourceCategory.dotenv: "a .env file (agents working in the project read it)",
    SourceCategory.repository: "a file inside a project (agents working in the project read it)",
    SourceCategory.cli_config: "the Railway CLI login file (readable by any agent running as you)",
    SourceCategory.environment: "the process environment (inherited by agents you start)",
}


def _token_findings(creds: Sequence[Credential]) -> list[Finding]:
    out: list[Finding] = []
    for c in creds:
        if c.status == Status.invalid:
            continue
        for s in c.sources:
            where = _AGENT_READABLE.get(SourceCategory(s.category), "a readable file")
            at = "the environment" if s.path == "env" else f"{s.path} ({s.locator})"
            if c.root_equivalent:
                out.append(
                    Finding.make(
                        "railway.root-token-agent-readable",
                        Severity.critical if c.status == Status.verified else Severity.high,
                        c.id,
                        f"Root-equivalent Railway {c.kind.replace('_', ' ')} ({c.principal or c.fingerprint}) "
                        f"is in {where}: {at}. It can delete volumes and their backups.",
                        "Move it out of files agents read (use a secret manager or `railway login` only when needed), "
                        "rotate it, and keep an off-platform backup of every Railway database.",
                        provider=P,
                        path=None if s.path == "env" else s.path,
                        line=s.line,
                    )
                )
    return out
