"""Fixtures for the backup and verify tests: a source database with known rows, stores, configs."""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from auditor.config import Config, load_config
from auditor.state import StateDB
from tests.support.pg import PgDatabase
from tests.support.seaweed import SeaweedS3

REPO = Path(__file__).resolve().parents[2]
# the console script of the running interpreter's environment, however it was installed
BLASTWALL = str(Path(sys.executable).parent / "blastwall")

SCHEMA_SQL = """
create table customers(id int primary key, name text not null);
create table orders(id bigserial primary key, customer_id int references customers(id), total numeric,
                    created_at timestamptz default now());
create schema billing;
create table billing."Invoice Lines"(id int, amount int);
create table empty_table(x int);
insert into customers select g, 'c' || g from generate_series(1, 50) g;
insert into orders(customer_id, total) select 1 + g % 50, g from generate_series(1, 300) g;
insert into billing."Invoice Lines" select g, g from generate_series(1, 7) g;
"""

EXPECTED = {"public.customers": 50, "public.orders": 300, "billing.Invoice Lines": 7, "public.empty_table": 0}


@dataclass
class Setup:
    path: Path
    config: Config
    env: dict[str, str]
    db: PgDatabase
    tmp: Path
    bucket: str | None = None

    def state(self) -> StateDB:
        return StateDB(self.config.state.url)

    def reload(self) -> Config:
        self.config = load_config(self.path)
        return self.config


def write_config(tmp: Path, body: str) -> Path:
    p = tmp / "blastwall.toml"
    p.write_text(textwrap.dedent(body))
    return p


@pytest.fixture
def source_db(pg_db: PgDatabase) -> PgDatabase:
    with pg_db.connect() as conn:
        conn.execute(SCHEMA_SQL)  # type: ignore[arg-type]
    return pg_db


@pytest.fixture
def make_setup(
    tmp_path: Path, source_db: PgDatabase, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Callable[..., Setup]:
    """make_setup(store="s3"|"local", encrypt_to=[...], identities=[...], lock=("COMPLIANCE", 1), extra="")"""

    def make(
        store: str = "s3",
        *,
        encrypt_to: list[str] | None = None,
        identities: list[str] | None = None,
        lock: tuple[str, int] | None = ("COMPLIANCE", 1),
        extra: str = "",
        keep_days: int | None = None,
        source_extra: str = "",
        bucket_lock: bool = True,
        writer: bool = True,
        endpoint: str | None = None,
    ) -> Setup:
        env = {"SRC_DATABASE_URL": source_db.url}
        bucket = None
        if store == "s3":
            sw: SeaweedS3 = request.getfixturevalue("seaweed")
            bucket = sw.make_bucket(lock=bucket_lock)
            env.update(sw.env(writer=writer))
            lock_line = f'object_lock = {{ mode = "{lock[0]}", days = {lock[1]} }}' if lock else ""
            store_toml = f"""
                [[stores]]
                name = "offsite"
                kind = "s3"
                endpoint = "{endpoint or sw.endpoint}"
                bucket = "{bucket}"
                prefix = "bw/"
                access_key_id = "env:BW_S3_KEY"
                secret_access_key = "env:BW_S3_SECRET"
                {lock_line}
                """
        else:
            store_toml = f"""
                [[stores]]
                name = "offsite"
                kind = "local"
                path = "{tmp_path / "store"}"
                """
        enc = f"encrypt_to = {encrypt_to!r}".replace("'", '"') if encrypt_to else ""
        ids = f"identities = {identities!r}".replace("'", '"') if identities else ""
        keep = f"keep_days = {keep_days}" if keep_days else ""
        body = f"""
            [state]
            url = "sqlite:///{tmp_path / "state" / "state.db"}"

            [[sources]]
            name = "app"
            url = "env:SRC_DATABASE_URL"
            {source_extra}
            {store_toml}
            [[backups]]
            source = "app"
            store = "offsite"
            schedule = "0 3 * * *"
            {enc}
            {ids}
            {keep}
            {extra}
            """
        path = write_config(tmp_path, body)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        return Setup(path=path, config=load_config(path), env=env, db=source_db, tmp=tmp_path, bucket=bucket)

    return make


def cli_env(setup: Setup) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()}
    env.update(setup.env)
    return env


def run_cli(setup: Setup, *args: str, timeout: float = 120) -> Any:
    import subprocess

    return subprocess.run(
        [BLASTWALL, *args],
        capture_output=True,
        text=True,
        cwd=setup.tmp,
        env=cli_env(setup),
        timeout=timeout,
        check=False,
    )


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def cli(setup: Setup, *args: str) -> CliResult:
    """Run the real Typer app in-process (fast); `--config` points at the setup's file."""
    from typer.testing import CliRunner

    from auditor.cli import app

    argv = list(args)
    if argv and argv[0] == "backup":
        argv = argv[:2] + ["--config", str(setup.path)] + argv[2:]
    else:
        argv = argv[:1] + ["--config", str(setup.path)] + argv[1:]
    res = CliRunner().invoke(app, argv, catch_exceptions=True)
    code = res.exit_code
    exc = res.exception
    if exc is not None and not isinstance(exc, SystemExit):
        from auditor.errors import BlastwallError

        if not isinstance(exc, BlastwallError):
            raise exc
        code = exc.exit_code
    return CliResult(code, res.stdout, res.stderr)


@pytest.fixture
def mysql_setup(
    mariadb: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Callable[..., Any]:
    """mysql_setup(store="s3"|"local", source_extra="", fill=True): a fresh MariaDB database with known rows."""
    from tests.backup.engines_env import fill_mysql, make_engine_setup, new_mysql_database

    def make(store: str = "s3", *, source_extra: str = "", extra: str = "", fill: bool = True) -> Any:
        name, user, pw = new_mysql_database(mariadb)
        setup = make_engine_setup(
            "mysql",
            mariadb,
            tmp_path,
            monkeypatch,
            store=store,
            seaweed=request.getfixturevalue("seaweed") if store == "s3" else None,
            source_extra=source_extra,
            extra=extra,
            url=mariadb.url(user, pw, name),
            database=name,
        )
        setup.extra["password"] = pw
        if fill:
            with setup.mysql() as conn:
                fill_mysql(conn)
        return setup

    return make


@pytest.fixture
def redis_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Any:
    """redis_setup(store="s3"|"local", user=None, fill=True): a fresh redis-server (per test) with known keys."""
    from tests.backup.engines_env import fill_redis, make_engine_setup
    from tests.support.redis_server import RedisServer

    servers: list[RedisServer] = []

    def make(
        store: str = "s3",
        *,
        source_extra: str = "",
        extra: str = "",
        fill: bool = True,
        user: tuple[str, str, str] | None = None,
    ) -> Any:
        server = RedisServer().start()
        servers.append(server)
        url = server.url(None, server.password)
        if user is not None:
            name, pw, rules = user
            server.command("ACL", "SETUSER", name, "on", f">{pw}", *rules.split())
            url = server.url(name, pw)
        setup = make_engine_setup(
            "redis",
            server,
            tmp_path,
            monkeypatch,
            store=store,
            seaweed=request.getfixturevalue("seaweed") if store == "s3" else None,
            source_extra=source_extra,
            extra=extra,
            url=url,
        )
        setup.extra["password"] = server.password
        if fill:
            fill_redis(server)
        return setup

    yield make
    for s in servers:
        s.stop()
