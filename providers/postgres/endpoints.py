"""Which database a connection URL names, and which platform resource holds it (no secrets here).

`parse_target` turns a URL into a `DbTarget`: engine, host, port, database, user, TLS parameters, and
`container_keys`: provider-neutral strings that other providers put in a resource's
``metadata["endpoints"]`` (Railway volume: ``host:port`` of its TCP proxy and private domain; Supabase
project: ``supabase-project:<ref>``; RDS: ``rds-instance:<region>:<id>`` / ``rds-cluster:<region>:<id>``).
The audit links a database to the resource that lists one of its keys (`auditor.dblinks`).

The database's own id is ``<engine>://<host>:<port>/<database>``, the same form `blastwall backup` records
as a source identity, so an off-platform dump of the same database is found by id. Hosts that are the
same database under another name (a Supabase pooler, a Neon ``-pooler`` endpoint) are mapped to the
direct host, so two URLs of one database give one resource.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["DbTarget", "parse_target", "DEFAULT_PORTS", "ENGINES"]

ENGINES = {
    "postgres": "postgres",
    "postgresql": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "redis": "redis",
    "rediss": "redis",
    "mongodb": "mongodb",
    "mongodb+srv": "mongodb",
}
DEFAULT_PORTS = {"postgres": 5432, "mysql": 3306, "redis": 6379, "mongodb": 27017}
_LOCAL = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}

_SUPABASE_DIRECT = re.compile(r"^db\.(?P<ref>[a-z0-9]{10,40})\.supabase\.co$")
_SUPABASE_POOLER = re.compile(r"^(?:[a-z0-9-]+\.)?pooler\.supabase\.com$")
_NEON = re.compile(r"^(?P<ep>ep-[a-z0-9-]+?)(?P<pool>-pooler)?\.(?P<rest>[a-z0-9.-]+\.neon\.tech)$")
_RDS = re.compile(
    r"^(?P<id>[a-z0-9-]+)\.(?P<kind>cluster-ro-|cluster-custom-|cluster-|proxy-)?[a-z0-9]+\."
    r"(?P<region>[a-z0-9-]+)\.rds\.amazonaws\.com$"
)


@dataclass(frozen=True)
class DbTarget:
    engine: str  # postgres | mysql | redis | mongodb
    scheme: str
    host: str  # as written (lower case)
    port: int
    database: str  # postgres/mysql: database name; redis: db index; mongodb: auth database
    user: str | None
    params: dict[str, str] = field(default_factory=dict)  # non-secret query parameters (sslmode, tls…)
    platform: str = "unknown"  # railway-proxy | railway-internal | supabase | neon | rds | local | unknown
    platform_label: str = ""
    canonical_host: str = ""
    container_keys: tuple[str, ...] = ()

    @property
    def resource_id(self) -> str:
        return f"{self.engine}://{self.canonical_host or self.host}:{self.port}/{self.database}"

    @property
    def aliases(self) -> tuple[str, ...]:
        """Other ids the same database is known by (host as written; localhost spellings)."""
        hosts = {self.host, self.canonical_host or self.host}
        if self.host in _LOCAL:
            hosts |= {"localhost", "127.0.0.1"}
        scheme_names = {self.engine, self.scheme} | ({"postgres", "postgresql"} if self.engine == "postgres" else set())
        return tuple(
            sorted({f"{s}://{h}:{self.port}/{self.database}" for h in hosts for s in scheme_names} - {self.resource_id})
        )

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    def describe(self) -> str:
        return f"{self.engine} database {self.database} via {self.platform_label or self.endpoint}"


def parse_target(url: str) -> DbTarget | None:
    """None when the URL cannot be parsed (never raises; never includes the password)."""
    try:
        u = urlsplit(url)
        scheme = u.scheme.lower()
        engine = ENGINES.get(scheme)
        if engine is None or not u.hostname:
            return None
        host = u.hostname.lower()
        port = u.port or DEFAULT_PORTS[engine]
    except ValueError:
        return None
    user = unquote(u.username) if u.username else None
    params = {k: v for k, v in parse_qsl(u.query) if k.lower() not in ("password", "pass", "pwd")}
    path = unquote(u.path.lstrip("/"))
    if engine == "postgres":
        database = path or params.get("dbname") or user or "postgres"
    elif engine == "redis":
        database = path or "0"
    elif engine == "mongodb":
        database = path or params.get("authSource") or "admin"
    else:
        database = path
    t = DbTarget(engine=engine, scheme=scheme, host=host, port=port, database=database, user=user, params=params)
    return _place(t)


def _place(t: DbTarget) -> DbTarget:
    host, port = t.host, t.port
    keys = [f"{host}:{port}"]
    canonical = host
    platform, label = "unknown", f"unknown host {host}:{port}"
    if host in _LOCAL or host.endswith(".localhost"):
        platform, label, canonical = "local", f"local server {host}:{port}", host
    elif host == "proxy.rlwy.net" or host.endswith(".proxy.rlwy.net"):
        platform, label = "railway-proxy", f"Railway TCP proxy {host}:{port}"
    elif host.endswith(".railway.internal"):
        platform, label = "railway-internal", f"Railway private network {host}:{port}"
    elif m := _SUPABASE_DIRECT.match(host):
        ref = m.group("ref")
        platform, label = "supabase", f"Supabase project {ref}"
        keys.append(f"supabase-project:{ref}")
    elif _SUPABASE_POOLER.match(host):
        # Supavisor: the project ref is in the user name (postgres.<ref>); the pooler is the same database.
        ref = (t.user or "").rpartition(".")[2] if t.user and "." in t.user else ""
        platform, label = "supabase", f"Supabase pooler for project {ref or '?'}"
        if ref:
            keys.append(f"supabase-project:{ref}")
            canonical, port = f"db.{ref}.supabase.co", 5432
    elif m := _NEON.match(host):
        ep = m.group("ep")
        platform, label = "neon", f"Neon endpoint {ep}"
        canonical = f"{ep}.{m.group('rest')}"
        keys.append(f"neon-endpoint:{ep}")
    elif m := _RDS.match(host):
        kind = m.group("kind") or ""
        what = "rds-cluster" if kind.startswith("cluster") else ("rds-proxy" if kind == "proxy-" else "rds-instance")
        platform = "rds"
        label = f"AWS RDS {what.split('-')[1]} {m.group('id')} in {m.group('region')}"
        keys.append(f"{what}:{m.group('region')}:{m.group('id')}")
        if kind == "cluster-ro-":  # the reader endpoint is the same cluster
            canonical = host.replace(".cluster-ro-", ".cluster-", 1)
    return DbTarget(
        engine=t.engine,
        scheme=t.scheme,
        host=t.host,
        port=port if canonical != host else t.port,
        database=t.database,
        user=t.user,
        params=t.params,
        platform=platform,
        platform_label=label,
        canonical_host=canonical,
        container_keys=tuple(dict.fromkeys(keys)),
    )
