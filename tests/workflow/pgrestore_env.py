"""A source database with a backup, and a live target database owned by its own role (canary password)."""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

from auditor.config import load_config
from auditor.pgserver import ScratchPostgres
from auditor.state import StateDB

REPO = Path(__file__).resolve().parents[2]

SOURCE_SQL = """
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 50) g;
CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, total numeric(10,2));
INSERT INTO orders SELECT g, 1 + g % 50, g * 1.25 FROM generate_series(1, 120) g;
CREATE SCHEMA billing;
CREATE TABLE billing.invoices (id int PRIMARY KEY, note text);
INSERT INTO billing.invoices SELECT g, 'inv ' || g FROM generate_series(1, 7) g;
"""

TARGET_SQL = """
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO customers VALUES (1, 'live one'), (2, 'live two'), (3, 'live three');
CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, total numeric(10,2));
INSERT INTO orders VALUES (1, 1, 9.99);
CREATE TABLE only_here (id int PRIMARY KEY, v text);
INSERT INTO only_here VALUES (1, 'keep me'), (2, 'me too');
"""


def content_checksum(conn: psycopg.Connection[Any]) -> str:
    """md5 over every user table's definition and its rows (ordered COPY ... TO STDOUT)."""
    h = hashlib.md5(usedforsecurity=False)
    tables = conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1, 2"
    ).fetchall()
    for schema, name in tables:
        cols = conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            (f'"{schema}"."{name}"',),
        ).fetchall()
        h.update(f"{schema}.{name}:{cols}\n".encode())
        order = sql.SQL(", ").join(sql.Literal(i + 1) for i in range(len(cols)))
        q = sql.SQL("COPY (SELECT * FROM {}.{} ORDER BY {}) TO STDOUT").format(
            sql.Identifier(schema), sql.Identifier(name), order
        )
        with conn.cursor().copy(q) as copy:
            for block in copy:
                h.update(bytes(block))
    return h.hexdigest()


def row_counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    from auditor.backup.runner import count_rows

    return {t.qualified: t.rows for t in count_rows(conn)}


@dataclass
class RestoreEnv:
    server: ScratchPostgres
    tmp: Path
    source_db: str
    target_db: str
    target_password: str
    config_path: Path
    env: dict[str, str]
    backup_id: str = ""
    logs: list[str] = field(default_factory=list)

    def target(self) -> psycopg.Connection[Any]:
        return self.server.connect(self.target_db)

    def source(self) -> psycopg.Connection[Any]:
        return self.server.connect(self.source_db)

    def target_checksum(self) -> str:
        with self.target() as c:
            return content_checksum(c)

    def cli(
        self,
        *args: str,
        extra_env: dict[str, str] | None = None,
        timeout: float = 120,
        crash: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """The CLI in a subprocess; `crash` ({"after"|"inside": STEP}) kills it there (tests' seam)."""
        from .crashprog import crash_args

        prog = (
            ["-m", "tests.workflow.crashprog", *crash_args(**crash), "cli"]
            if crash
            else ["-c", "from auditor.cli import main; main()"]
        )
        p = subprocess.run(
            [sys.executable, *prog, "-v", *args],
            cwd=self.tmp,
            env={**self.env, **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        self.logs += [p.stdout, p.stderr]
        return p

    def cli_here(self, *args: str) -> int:
        """The same CLI in this process (for calls that are not meant to crash): saves a Python start-up."""
        from typer.testing import CliRunner

        from auditor.cli import app

        res = CliRunner().invoke(app, list(args), env={k: v for k, v in self.env.items() if k.isupper()})
        self.logs.append(res.output)
        if res.exception is not None and not isinstance(res.exception, SystemExit):
            raise res.exception
        return res.exit_code

    def config(self) -> Any:
        return load_config(self.config_path)


def make_env(
    server: ScratchPostgres,
    tmp: Path,
    target_password: str,
    *,
    approvals: str = 'mode = "unauthenticated"',
    read_password: str | None = None,
) -> RestoreEnv:
    """`read_password`: also configure `read_url` with a read-only role (pg_read_all_data)."""
    tag = secrets.token_hex(4)
    src, tgt, role = f"src_{tag}", f"tgt_{tag}", f"owner_{tag}"
    server.create_database(src)
    with server.connect(src) as c:
        c.execute(SOURCE_SQL)  # type: ignore[arg-type]
    with server.connect() as c:
        c.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(target_password))
        )
        c.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(tgt), sql.Identifier(role)))
    info = psycopg.conninfo.conninfo_to_dict(server.conninfo().reveal())
    base = f"{info['host']}:{info['port']}"
    su = f"postgresql://postgres:{quote(str(info['password']), safe='')}@{base}"
    target_url = f"postgresql://{role}:{quote(target_password, safe='')}@{base}/{tgt}"
    with psycopg.connect(target_url, autocommit=True) as c:
        c.execute(TARGET_SQL)  # type: ignore[arg-type]
    read_line, read_env = "", {}
    if read_password is not None:
        reader = f"reader_{tag}"
        with server.connect() as c:
            c.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE pg_read_all_data").format(
                    sql.Identifier(reader), sql.Literal(read_password)
                )
            )
        read_line = 'read_url = "env:TARGET_READ_URL"'
        read_env = {"TARGET_READ_URL": f"postgresql://{reader}:{quote(read_password, safe='')}@{base}/{tgt}"}
    cfg = tmp / "blastwall.toml"
    cfg.write_text(f"""
[[sources]]
name = "app"
url = "env:SRC_URL"

[[stores]]
name = "offsite"
kind = "local"
path = "{tmp / "store"}"

[[backups]]
source = "app"
store = "offsite"

[[targets]]
name = "staging"
url = "env:TARGET_URL"
{read_line}

[verify]
scratch_url = "env:SCRATCH_URL"

[approvals]
{approvals}
""")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(
        SRC_URL=f"{su}/{src}",
        TARGET_URL=target_url,
        SCRATCH_URL=f"{su}/postgres",
        PYTHONPATH=str(REPO),
        COLUMNS="200",
        **read_env,
    )
    renv = RestoreEnv(server, tmp, src, tgt, target_password, cfg, env)
    from auditor.backup import run_backup

    rec = run_backup(renv.config(), "app", db=StateDB(), environ=env)
    renv.backup_id = rec.id
    return renv


def drop_env(e: RestoreEnv) -> None:
    for db in (e.source_db, e.target_db):
        e.server.drop_database(db)
