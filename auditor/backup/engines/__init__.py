"""Backup engines, one module per database product, behind `interface.Engine`.

The registry is this one dict; `engine_for_url` picks by URL scheme, `engine_named` by the name recorded in
a manifest (`source.kind`), `engine_for_image` by a container image (what Railway reports for a service).
"""

from __future__ import annotations

import importlib
from urllib.parse import urlsplit

from ...errors import BackupError, ConfigError
from .interface import Engine

__all__ = ["Engine", "ENGINES", "engine_named", "engine_for_url", "engine_for_image", "scheme_of"]

# name -> "module:Class"; imported lazily (psycopg, pymysql, redis only when used)
ENGINES: dict[str, str] = {
    "postgres": "postgres:PostgresEngine",
    "mysql": "mysql:MySQLEngine",
    "redis": "redis:RedisEngine",
}
_SCHEMES = {"postgres": "postgres", "postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql",
            "redis": "redis", "rediss": "redis"}
_IMAGES = {"postgres": "postgres", "postgis": "postgres", "timescale": "postgres", "pgvector": "postgres",
           "mysql": "mysql", "mariadb": "mysql", "percona": "mysql", "redis": "redis", "valkey": "redis",
           "redis-stack": "redis", "redis-stack-server": "redis"}


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
        raise ConfigError(f"unsupported database URL scheme {scheme!r}",
                          hint="use postgres://, mysql:// (or mariadb://) or redis:// (or rediss://)")
    return name


def engine_for_url(url: str) -> Engine:
    return engine_named(scheme_of(url))


def engine_for_image(image: str | None) -> str | None:
    """`mysql:9.4` -> "mysql", `bitnami/redis:7` -> "redis", `ghcr.io/railwayapp-templates/postgres-ssl:17` ->
    "postgres"; None when the image is not a known database."""
    if not image:
        return None
    base = image.rsplit("/", 1)[-1].split("@")[0].split(":")[0].lower()
    for name, engine in _IMAGES.items():
        if base == name or base.startswith(name + "-"):
            return engine
    return None
