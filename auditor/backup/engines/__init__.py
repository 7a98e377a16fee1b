"""Backup engines, one module per database product, behind `interface.Engine`.

The registry is this one dict; `engine_for_url` picks by URL scheme, `engine_named` by the name recorded in
a manifest (`source.kind`). A platform source's URL comes from the variable its template sets (Railway:
`DATABASE_`/`MYSQL_`/`REDIS_PUBLIC_URL`), so its scheme picks the engine too.
"""

from __future__ import annotations

import importlib
from urllib.parse import urlsplit

from ...errors import BackupError, ConfigError
from .interface import Engine

__all__ = ["Engine", "ENGINES", "engine_named", "engine_for_url", "scheme_of"]

# name -> "module:Class"; imported lazily (psycopg, pymysql, redis only when used)
ENGINES: dict[str, str] = {
    "postgres": "postgres:PostgresEngine",
    "mysql": "mysql:MySQLEngine",
    "redis": "redis:RedisEngine",
}
_SCHEMES = {
    "postgres": "postgres",
    "postgresql": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "redis": "redis",
    "rediss": "redis",
}


def engine_named(name: str) -> Engine:
    spec = ENGINES.get(name)
    if spec is None:
        raise BackupError(f"unknown backup engine {name!r}", hint=f"known engines: {', '.join(sorted(ENGINES))}")
    mod, cls = spec.split(":")
    engine: Engine = getattr(importlib.import_module(f"{__name__}.{mod}"), cls)()
    return engine


def scheme_of(url: str) -> str:
    """The engine name for a URL, by scheme (a libpq keyword string counts as PostgreSQL)."""
    if "://" not in url:
        return "postgres"
    scheme = urlsplit(url).scheme.lower()
    name = _SCHEMES.get(scheme)
    if name is None:
        raise ConfigError(
            f"unsupported database URL scheme {scheme!r}",
            hint="use postgres://, mysql:// (or mariadb://) or redis:// (or rediss://)",
        )
    return name


def engine_for_url(url: str) -> Engine:
    return engine_named(scheme_of(url))
