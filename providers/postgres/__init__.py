"""Database connection URLs (PostgreSQL, MySQL/MariaDB, MongoDB, Redis) with a password, plus ~/.pgpass.

Offline: the URL is parsed (engine, host, port, database, user; never the password) and its host is placed
(`endpoints.parse_target`). Online, unless ``--no-db-connect`` or ``[providers.postgres] connect = false``:
one read-only catalogue inspection per credential (`inspect_pg`, `inspect_mysql`, `inspect_redis`,
`inspect_mongo`) with short connect and statement timeouts. Inventory: one ``database`` resource per
database (two URLs of one database give one resource), a "contents" destroy fact per credential, and the
keys (``metadata["container_keys"]``) the audit uses to link it to the platform resource holding it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from auditor._lazy import lazy_module
from auditor.errors import ProviderAuthError
from auditor.model import Candidate, CoverageGap, Credential, DestroyFact, Inventory, Resource, Status
from auditor.provider import FileRule, Provider, ProviderContext, Recogniser

from .endpoints import DbTarget, parse_target

if TYPE_CHECKING:
    from . import privileges as _priv
else:  # loaded by the first call that talks to the platform: an offline audit only recognises and classifies
    _priv = lazy_module("providers.postgres.privileges")

__all__ = ["PostgresProvider", "describe_url"]

_URL = re.compile(
    r"(?P<secret>\b(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|redis|rediss)://"
    r"[^\s:/@\"'`]*:[^\s@/\"'`]+@[^\s/\"'`?#]+(?:/[^\s\"'`?#,;)]*)?(?:\?[^\s\"'`#,;)]*)?)"
)

Inspector = Callable[..., "_priv.Privileges"]


def describe_url(url: str) -> str:
    """user@host:port/db: no password."""
    try:
        u = urlsplit(url)
        host = u.hostname or "?"
        port = f":{u.port}" if u.port else ""
        return f"{u.username or '?'}@{host}{port}{u.path or ''}"
    except ValueError:
        return "unparseable URL"


def _pgpass_url(line: str) -> str | None:
    """`host:port:db:user:password` → a postgres URL (wildcards left as they are). None when malformed."""
    parts: list[str] = []
    cur, esc = "", False
    for ch in line.strip():
        if esc:
            cur += ch
            esc = False
        elif ch == "\\":
            esc = True
        elif ch == ":" and len(parts) < 4:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    if len(parts) != 5 or not parts[4]:
        return None
    from urllib.parse import quote

    host, port, db, user, pw = parts
    if "*" in (host, port, db, user):
        return None
    return f"postgresql://{quote(user, safe='')}:{quote(pw, safe='')}@{host}:{port}/{quote(db, safe='')}"


def _target_meta(t: DbTarget | None) -> dict[str, Any]:
    if t is None:
        return {}
    return {
        "engine": t.engine,
        "host": t.host,
        "port": t.port,
        "database": t.database,
        "user": t.user,
        "platform": t.platform,
        "platform_label": t.platform_label,
        "database_resource": t.resource_id,
        "tls": {k: v for k, v in t.params.items() if k.lower().startswith(("ssl", "tls"))},
    }


class PostgresProvider(Provider):
    name = "postgres"
    display_name = "Database URLs"

    def __init__(
        self, *, resolve: Mapping[str, str] | None = None, inspectors: Mapping[str, Inspector] | None = None
    ) -> None:
        """`resolve`: host name → address to connect to instead (tests stand a local server in for a
        platform host; TLS still checks the host name). `inspectors`: engine → function (tests)."""
        self._resolve = dict(resolve or {})
        self._inspectors = dict(inspectors or {})

    def recognisers(self) -> Sequence[Recogniser]:
        return (
            Recogniser(provider="postgres", kind="database_url", text_pattern=_URL, priority=40),
            Recogniser(
                provider="postgres", kind="pgpass_entry", files=(FileRule(".pgpass", "line *"),), category="cli_config"
            ),
        )

    def _url(self, c: Credential | Candidate) -> str | None:
        raw = c.secret.reveal()
        if "://" in raw:
            return raw
        return _pgpass_url(raw)

    def classify(self, candidate: Candidate) -> Credential:
        url = self._url(candidate)
        scheme = url.split("://", 1)[0] if url else "postgres"
        where = describe_url(url) if url else None
        t = parse_target(url) if url else None
        return Credential.from_candidate(
            candidate,
            status=Status.unverified,
            principal=where,
            root_equivalent=None,
            possible_capabilities=("delete:database-contents",),
            reasons=(
                f"A {scheme} URL with a password: whoever reads it can connect as that user and, with the "
                "usual owner privileges, drop or overwrite the data. Its privileges were not checked.",
            ),
            metadata={**candidate.hints, "scheme": scheme, **_target_meta(t)},
        )

    # -- identify: one read-only inspection ---------------------------------------------------------------
    def _inspector(self, engine: str) -> Inspector:
        if engine in self._inspectors:
            return self._inspectors[engine]
        if engine == "postgres":
            from .inspect_pg import inspect_postgres

            return inspect_postgres
        if engine == "mysql":
            from .inspect_mysql import inspect_mysql

            return inspect_mysql
        if engine == "redis":
            from .inspect_redis import inspect_redis

            return inspect_redis
        from .inspect_mongo import inspect_mongo

        return inspect_mongo

    @staticmethod
    def connect_allowed(ctx: ProviderContext) -> bool:
        return not ctx.offline and ctx.db_connect and ctx.settings.get("connect", True) is not False

    def identify(self, credential: Credential, ctx: ProviderContext) -> Credential:
        if not self.connect_allowed(ctx):
            return credential
        url = self._url(credential)
        t = parse_target(url) if url else None
        if t is None or url is None:
            return credential
        timeouts = _priv.Timeouts(
            connect_s=float(ctx.settings.get("connect_timeout_s", 5)),
            statement_s=float(ctx.settings.get("statement_timeout_s", 5)),
        )
        u = urlsplit(url)
        from urllib.parse import unquote

        password = unquote(u.password or "")
        try:
            p = self._inspector(t.engine)(t, password, timeouts, hostaddr=self._resolve.get(t.host))
        except ProviderAuthError as exc:
            return credential.model_copy(
                update={
                    "status": Status.invalid,
                    "capabilities": (),
                    "possible_capabilities": (),
                    "root_equivalent": None,
                    "reasons": (f"{t.describe()}: {exc.message}.",),
                }
            )
        return _apply(credential, t, p)

    # -- inventory: the databases and who can wipe them ---------------------------------------------------------
    def inventory(self, credentials: Sequence[Credential], ctx: ProviderContext) -> Inventory:
        resources: dict[str, Resource] = {}
        facts: list[DestroyFact] = []
        gaps: list[CoverageGap] = []
        for c in credentials:
            rid = c.metadata.get("database_resource")
            if not rid:
                gaps.append(
                    CoverageGap(
                        subject=c.id,
                        provider=self.name,
                        reason="not inspected: it names no single database (a .pgpass wildcard or an unparseable URL)",
                    )
                )
                continue
            meta = c.metadata
            name = f"{meta.get('database')} ({meta.get('platform_label') or meta.get('host')})"
            old = resources.get(rid)
            aliases = set((old.metadata.get("aliases") if old else None) or ())
            t = parse_target(self._url(c) or "")
            if t is not None:
                aliases |= set(t.aliases)
            keys = list((old.metadata.get("container_keys") if old else None) or [])
            keys += [k for k in (t.container_keys if t else ()) if k not in keys]
            resources[rid] = Resource(
                id=rid,
                provider=self.name,
                type="database",
                name=name,
                holds_data=True,
                metadata={
                    "layer": "contents",
                    "engine": meta.get("engine"),
                    "database": meta.get("database"),
                    "endpoint": f"{meta.get('host')}:{meta.get('port')}",
                    "platform": meta.get("platform"),
                    "platform_label": meta.get("platform_label"),
                    "container_keys": keys,
                    "aliases": sorted(aliases),
                },
            )
            if c.status == Status.verified and isinstance(meta.get("db"), dict):
                db = meta["db"]
                v = db.get("destroys_contents")
                caps = [x for x in c.capabilities if x not in ("read:server-files", "read:replication-stream")]
                facts.append(
                    DestroyFact(
                        credential=c.id,
                        target=rid,
                        verdict=v,
                        capability=caps[0] if caps and v else None,
                        reason=(
                            f"{db.get('role')} "
                            + (
                                "can "
                                + ", ".join(f"{g['capability']} ({g['scope']})" for g in db.get("grants", [])[:4])
                                if v
                                else "is read-only here"
                                if v is False
                                else "may destroy data; not proven"
                            )
                            + " (catalogue inspection)"
                        ),
                    )
                )
            elif c.status == Status.invalid:
                facts.append(
                    DestroyFact(credential=c.id, target=rid, verdict=False, reason="the server refused this login")
                )
            elif c.status == Status.unverified and not self.connect_allowed(ctx):
                why = "offline audit" if ctx.offline else "database connections turned off (--no-db-connect)"
                gaps.append(
                    CoverageGap(
                        subject=c.id,
                        provider=self.name,
                        reason=f"not inspected: {why}; its privileges on {name} were not checked",
                    )
                )
        return Inventory(resources=tuple(resources.values()), facts=tuple(facts), gaps=tuple(gaps))


def _summary(p: _priv.Privileges) -> str:
    f = p.facts
    if f.get("superuser"):
        return "superuser"
    if f.get("owns_database"):
        return "owner"
    if p.root_equivalent:
        return "owner of everything" if p.engine in ("postgres", "mysql") else "full access"
    if p.destroys_contents:
        scopes = sorted(
            {
                g.scope
                for g in p.grants
                if g.capability
                in (
                    "delete:rows",
                    "truncate:table",
                    "drop:table",
                    "drop:database",
                    "flush:keyspace",
                    "delete:keys",
                    "drop:collection",
                )
            }
        )
        return "can delete in " + ", ".join(scopes)
    if p.destroys_contents is False:
        return "read-only"
    return "privileges partly unknown"


def _apply(c: Credential, t: DbTarget, p: _priv.Privileges) -> Credential:
    reasons = list(p.reasons)
    db = {
        "role": p.role,
        "engine": p.engine,
        "summary": _summary(p),
        "destroys_contents": p.destroys_contents,
        "grants": p.scopes(),
        "remediation_sql": list(p.remediation_sql),
        "facts": p.facts,
        "complete": p.complete,
    }
    return c.model_copy(
        update={
            "status": Status.verified,
            "principal": f"{p.role} on {t.describe()}",
            "capabilities": p.capabilities,
            "possible_capabilities": p.possible_capabilities,
            "root_equivalent": p.root_equivalent,
            "reasons": tuple(reasons),
            "metadata": {**c.metadata, "db": db},
        }
    )
