"""Scenario data for the fake Railway API: a small world of users, workspaces, projects, volumes and tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "Scenario",
    "User",
    "Workspace",
    "Project",
    "Environment",
    "Service",
    "ServiceInstance",
    "Volume",
    "VolumeInstance",
    "Backup",
    "Schedule",
    "Token",
    "TcpProxy",
    "Variable",
    "default_scenario",
    "iso",
    "small_scenario",
]


def iso(d: datetime) -> str:
    return d.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _id() -> str:
    return str(uuid.uuid4())


@dataclass
class User:
    id: str
    email: str
    name: str
    workspace_ids: list[str] = field(default_factory=list)


@dataclass
class Workspace:
    id: str
    name: str
    plan: str = "PRO"


@dataclass
class Project:
    id: str
    name: str
    workspace_id: str
    deleted: bool = False


@dataclass
class Environment:
    id: str
    name: str
    project_id: str


@dataclass
class Service:
    id: str
    name: str
    project_id: str


@dataclass
class ServiceInstance:
    id: str
    service_id: str
    environment_id: str
    image: str | None = None
    repo: str | None = None
    num_replicas: int = 1  # > 1: a replicated (HA) database service, which Railway refuses to restore
    deployments: list[dict[str, str]] = field(default_factory=list)  # newest last: {id, status, createdAt}


@dataclass
class Volume:
    id: str
    name: str
    project_id: str


@dataclass
class VolumeInstance:
    id: str
    volume_id: str
    environment_id: str
    service_id: str | None
    mount_path: str = "/data"
    size_mb: int = 5000
    current_size_mb: float = 812.5
    state: str = "READY"
    pending_deletion: bool = False
    deleted_at: str | None = None


@dataclass
class Backup:
    id: str
    volume_instance_id: str
    created_at: str
    name: str | None = None
    schedule_id: str | None = None
    expires_at: str | None = None
    used_mb: int = 120


@dataclass
class Schedule:
    id: str
    volume_instance_id: str
    kind: str  # DAILY | WEEKLY | MONTHLY
    created_at: str


@dataclass
class TcpProxy:
    id: str
    environment_id: str
    service_id: str
    domain: str = "shuttle.proxy.rlwy.net"
    proxy_port: int = 41234


@dataclass
class Variable:
    environment_id: str
    service_id: str | None
    name: str
    value: str


@dataclass
class Token:
    """kind: account | workspace | project | oauth. oauth = the CLI login (acts as the user)."""

    value: str
    kind: str
    user_id: str | None = None
    workspace_id: str | None = None
    project_id: str | None = None
    environment_id: str | None = None
    name: str = "token"
    revoked: bool = False
    key: str = ""  # the scenario's name for it (Scenario.tokens key)
    forbidden: bool = False  # identifies itself (apiToken/me) but is "Not Authorized" for everything else


@dataclass
class Scenario:
    users: dict[str, User] = field(default_factory=dict)
    workspaces: dict[str, Workspace] = field(default_factory=dict)
    projects: dict[str, Project] = field(default_factory=dict)
    environments: dict[str, Environment] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)
    service_instances: dict[str, ServiceInstance] = field(default_factory=dict)
    volumes: dict[str, Volume] = field(default_factory=dict)
    volume_instances: dict[str, VolumeInstance] = field(default_factory=dict)
    backups: dict[str, Backup] = field(default_factory=dict)
    schedules: dict[str, Schedule] = field(default_factory=dict)
    tcp_proxies: dict[str, TcpProxy] = field(default_factory=dict)
    variables: list[Variable] = field(default_factory=list)
    tokens: dict[str, Token] = field(default_factory=dict)  # by name
    max_page_size: int = 2
    project_token_can_delete: bool = True  # undocumented in reality; the fake lets it, to be pessimistic
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Staged (uncommitted) changes per environment id, applied by environmentPatchCommitStaged.
    # Each change: {"kind": "volume_restore" | "variables", "section": "volumes" | "services", "id": …,
    # "config": {…} (what environmentStagedChanges shows), plus what the commit needs to apply it}.
    staged: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    restores: list[dict[str, Any]] = field(default_factory=list)  # committed volume restores
    commits: list[dict[str, Any]] = field(default_factory=list)  # every commit: environment, changes applied
    # workflow id -> {"status", "error", "polls_left", "on_complete": change to stage or None}
    workflows: dict[str, dict[str, Any]] = field(default_factory=dict)
    stage_polls: int = 3  # workflowStatus answers Running this many times before the staging completes
    stage_error: str | None = None  # the staging workflow ends in Error with this text (nothing is staged)
    on_stage_complete: list[Any] = field(default_factory=list)  # callables run when a staging completes
    # externalWorkspaces: user id -> [(workspace id, project ids)]: projects shared with the user directly
    external: dict[str, list[tuple[str, list[str]]]] = field(default_factory=dict)

    # -- builders --------------------------------------------------------------------------------
    def user(self, email: str, name: str = "") -> User:
        u = User(_id(), email, name or email.split("@")[0])
        self.users[u.id] = u
        return u

    def workspace(self, name: str, members: list[User] = (), plan: str = "PRO") -> Workspace:  # type: ignore[assignment]
        w = Workspace(_id(), name, plan)
        self.workspaces[w.id] = w
        for m in members:
            m.workspace_ids.append(w.id)
        return w

    def project(self, ws: Workspace, name: str, envs: tuple[str, ...] = ("production",)) -> Project:
        p = Project(_id(), name, ws.id)
        self.projects[p.id] = p
        for e in envs:
            env = Environment(_id(), e, p.id)
            self.environments[env.id] = env
        return p

    def envs_of(self, p: Project) -> list[Environment]:
        return [e for e in self.environments.values() if e.project_id == p.id]

    def env(self, p: Project, name: str) -> Environment:
        return next(e for e in self.envs_of(p) if e.name == name)

    def service(self, p: Project, name: str, image: str | None = None, repo: str | None = None) -> Service:
        s = Service(_id(), name, p.id)
        self.services[s.id] = s
        for e in self.envs_of(p):
            si = ServiceInstance(_id(), s.id, e.id, image=image, repo=repo)
            self.service_instances[si.id] = si
        return s

    def volume(
        self, p: Project, svc: Service | None, name: str, mount: str = "/data", size_mb: int = 5000
    ) -> tuple[Volume, dict[str, VolumeInstance]]:
        v = Volume(_id(), name, p.id)
        self.volumes[v.id] = v
        out = {}
        for e in self.envs_of(p):
            vi = VolumeInstance(_id(), v.id, e.id, svc.id if svc else None, mount, size_mb)
            self.volume_instances[vi.id] = vi
            out[e.name] = vi
        return v, out

    def backup(
        self, vi: VolumeInstance, age: timedelta, schedule: Schedule | None = None, name: str | None = None
    ) -> Backup:
        created = self.now - age
        exp = None
        if schedule is not None:
            keep = {"DAILY": timedelta(days=6), "WEEKLY": timedelta(days=30), "MONTHLY": timedelta(days=90)}
            exp = iso(created + keep[schedule.kind])
        b = Backup(
            _id(),
            vi.id,
            iso(created),
            name or created.strftime("%Y-%m-%d %H:%M"),
            schedule.id if schedule else None,
            exp,
        )
        self.backups[b.id] = b
        return b

    def schedule(self, vi: VolumeInstance, kind: str, age: timedelta = timedelta(days=60)) -> Schedule:
        s = Schedule(_id(), vi.id, kind, iso(self.now - age))
        self.schedules[s.id] = s
        return s

    def public_url(self, env: Environment, svc: Service, var: str = "DATABASE_PUBLIC_URL", value: str = "") -> None:
        self.tcp_proxies[_id()] = TcpProxy(_id(), env.id, svc.id)
        self.variables.append(
            Variable(
                env.id, svc.id, var, value or f"postgresql://postgres:{_id()}@shuttle.proxy.rlwy.net:41234/railway"
            )
        )

    def private_url(self, env: Environment, svc: Service, value: str = "") -> None:
        """Only the private-network DATABASE_URL (no TCP proxy): public networking is off."""
        self.variables.append(
            Variable(
                env.id,
                svc.id,
                "DATABASE_URL",
                value or f"postgresql://postgres:{_id()}@postgres.railway.internal:5432/railway",
            )
        )

    def share_project(self, user: User, p: Project) -> None:
        """Invite ``user`` to project ``p`` directly (not to its workspace): reachable via externalWorkspaces."""
        entries = self.external.setdefault(user.id, [])
        for ws_id, pids in entries:
            if ws_id == p.workspace_id:
                pids.append(p.id)
                return
        entries.append((p.workspace_id, [p.id]))

    def stage_variable(self, env: Environment, svc: Service, name: str, value: str) -> None:
        """A second actor stages a variable change in ``env`` (applied by the next commit, whoever sends it)."""
        self.staged.setdefault(env.id, []).append(
            {
                "kind": "variables",
                "section": "services",
                "id": svc.id,
                "config": {"variables": {name: {"value": value}}},
                "env": env.id,
                "name": name,
                "value": value,
            }
        )

    def token(self, key: str, kind: str, value: str | None = None, **kw: object) -> Token:
        """Register a token under ``key`` (scenario name); ``name=`` is the token's own display name."""
        kw.setdefault("name", key)
        t = Token(value or _id(), kind, **kw)  # type: ignore[arg-type]
        t.key = key
        self.tokens[key] = t
        return t

    # -- lookups ----------------------------------------------------------------------------------
    def by_value(self, value: str) -> Token | None:
        for t in self.tokens.values():
            if t.value == value:
                return t
        return None

    def volume_instances_of_project(self, p: Project) -> list[VolumeInstance]:
        envs = {e.id for e in self.envs_of(p)}
        return [vi for vi in self.volume_instances.values() if vi.environment_id in envs]


def default_scenario(now: datetime | None = None) -> Scenario:
    """Two users' worth of Railway: 2 workspaces (+1 the account cannot reach), 5 projects, DB volumes, backups.

    Tokens (by name): ``account`` (alice, both workspaces), ``cli`` (alice's OAuth CLI login),
    ``workspace`` (workspace "acme"), ``project`` (shop/production), ``revoked`` (a revoked account
    token), ``revoked_project``, and ``other_account`` (bob, only the "bob-personal" workspace).
    """
    s = Scenario(now=now or datetime.now(UTC))
    alice = s.user("alice@example.com", "Alice")
    bob = s.user("bob@example.com", "Bob")
    acme = s.workspace("acme", [alice])
    side = s.workspace("alice-side", [alice], plan="HOBBY")
    bobs = s.workspace("bob-personal", [bob], plan="HOBBY")

    shop = s.project(acme, "shop", ("production", "staging"))
    pg = s.service(shop, "Postgres", image="ghcr.io/railwayapp-templates/postgres-ssl:16")
    s.service(shop, "web", repo="acme/shop")
    redis = s.service(shop, "Redis", image="redis:7.2")
    _, pg_vols = s.volume(shop, pg, "postgres-volume", "/var/lib/postgresql/data", 10000)
    _, redis_vols = s.volume(shop, redis, "redis-volume", "/data", 1000)
    daily = s.schedule(pg_vols["production"], "DAILY")
    weekly = s.schedule(pg_vols["production"], "WEEKLY")
    for h in (3, 27, 51):
        s.backup(pg_vols["production"], timedelta(hours=h), daily)
    s.backup(pg_vols["production"], timedelta(days=5), weekly)
    s.backup(pg_vols["production"], timedelta(days=9), None, name="before-migration")
    s.public_url(s.env(shop, "production"), pg)
    stale = s.schedule(pg_vols["staging"], "DAILY")
    s.backup(pg_vols["staging"], timedelta(days=4), stale)  # newest is 4 days old: stale for a daily schedule
    del redis_vols

    crm = s.project(acme, "crm")
    my = s.service(crm, "MySQL", image="mysql:8.4")
    _, my_vols = s.volume(crm, my, "mysql-volume", "/var/lib/mysql")
    ms = s.schedule(my_vols["production"], "WEEKLY")
    s.backup(my_vols["production"], timedelta(days=2), ms)

    s.project(acme, "docs-site")  # no services at all

    blog = s.project(side, "blog")
    mongo = s.service(blog, "MongoDB", image="mongo:7")
    s.volume(blog, mongo, "mongo-volume", "/data/db")  # no schedule, no backups
    s.service(blog, "app", repo="alice/blog")

    lab = s.project(side, "lab")
    pg2 = s.service(lab, "pgvector", image="pgvector/pgvector:pg16")
    _, lab_vols = s.volume(lab, pg2, "pg-data")
    lab_vols["production"].pending_deletion = True
    lab_vols["production"].state = "DELETING"
    lab_vols["production"].deleted_at = iso(s.now + timedelta(hours=30))
    s.backup(lab_vols["production"], timedelta(hours=10), None)

    secret = s.project(bobs, "bob-secret")
    bpg = s.service(secret, "Postgres", image="postgres:16")
    s.volume(secret, bpg, "bob-pg")

    s.token("account", "account", user_id=alice.id)
    s.token("cli", "oauth", user_id=alice.id)
    s.token("workspace", "workspace", workspace_id=acme.id)
    s.token("project", "project", project_id=shop.id, environment_id=s.env(shop, "production").id, name="deploy")
    s.token("revoked", "account", user_id=alice.id, revoked=True)
    s.token("revoked_project", "project", project_id=shop.id, environment_id=s.env(shop, "staging").id, revoked=True)
    s.token("other_account", "account", user_id=bob.id)
    return s


def small_scenario(now: datetime | None = None) -> Scenario:
    """One user, one workspace, one project (``shop``: Postgres with two backups): for quick contract tests.

    Tokens: ``account``, ``workspace``, ``project`` (shop/production), ``revoked``.
    """
    s = Scenario(now=now or datetime.now(UTC))
    alice = s.user("alice@example.com", "Alice")
    acme = s.workspace("acme", [alice])
    shop = s.project(acme, "shop")
    pg = s.service(shop, "Postgres", image="postgres:16")
    _, vols = s.volume(shop, pg, "pg-data")
    daily = s.schedule(vols["production"], "DAILY")
    s.backup(vols["production"], timedelta(hours=5), daily)
    s.backup(vols["production"], timedelta(hours=29), daily)
    s.token("account", "account", user_id=alice.id)
    s.token("workspace", "workspace", workspace_id=acme.id)
    s.token("project", "project", project_id=shop.id, environment_id=s.env(shop, "production").id)
    s.token("revoked", "account", user_id=alice.id, revoked=True)
    return s
