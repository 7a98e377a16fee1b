"""Sources for the MySQL/MariaDB and Redis backup tests: a fresh database (or Redis server) with known data,
and a config whose `[[sources]]` URL points at it (SeaweedFS with object lock, or a local store)."""

from __future__ import annotations

import secrets
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.config import Config, load_config
from auditor.state import StateDB

MYSQL_SCHEMA = [
    "CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(200) NOT NULL) ENGINE=InnoDB",
    "CREATE TABLE orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, customer_id INT, total DECIMAL(10,2), "
    "note TEXT, data BLOB) ENGINE=InnoDB",
    "CREATE TABLE `Invoice Lines` (id INT, amount INT) ENGINE=InnoDB",
    "CREATE TABLE empty_table (x INT) ENGINE=InnoDB",
    "CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100",
]
# Values that would fool a naive row counter: quotes, backslashes, newlines, "),(" and NUL inside strings.
TRICKY = ["it's", "a),(b", "line\nbreak", "back\\slash\\", "nul\x00byte", "semi;\n", "(((", "'),('x", "ünï"]
MYSQL_EXPECTED = {"customers": 50, "orders": 300, "Invoice Lines": 7, "empty_table": 0}


def fill_mysql(conn: Any) -> None:
    with conn.cursor() as cur:
        for s in MYSQL_SCHEMA:
            cur.execute(s)
        cur.executemany(
            "INSERT INTO customers VALUES (%s, %s)", [(i, TRICKY[i % len(TRICKY)] + str(i)) for i in range(1, 51)]
        )
        cur.executemany(
            "INSERT INTO orders (customer_id, total, note, data) VALUES (%s, %s, %s, %s)",
            [(1 + i % 50, i, TRICKY[i % len(TRICKY)], bytes([i % 256, 0, 40, 41, 39])) for i in range(1, 301)],
        )
        cur.executemany("INSERT INTO `Invoice Lines` VALUES (%s, %s)", [(i, i) for i in range(1, 8)])


@dataclass
class EngineSetup:
    kind: str
    path: Path
    config: Config
    env: dict[str, str]
    tmp: Path
    url: str
    source: Any  # the MariaDB fixture or the RedisServer
    database: str = ""
    bucket: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def state(self) -> StateDB:
        return StateDB(self.config.state.url)

    def mysql(self) -> Any:
        import pymysql

        return pymysql.connect(
            host="127.0.0.1",
            port=self.source.port,
            user="root",
            password="",
            unix_socket=str(self.source.sock),
            database=self.database,
            autocommit=True,
        )

    def redis(self, db: int = 0) -> Any:
        return self.source.client(db=db)


def new_mysql_database(mariadb: Any) -> tuple[str, str, str]:
    """(database, user, password): a fresh database and a user with the documented minimal privileges."""
    name = "shop_" + secrets.token_hex(3)
    user, pw = "bk_" + secrets.token_hex(3), "pw'" + secrets.token_hex(8)
    mariadb.admin(
        f"CREATE DATABASE {name}",
        f"CREATE USER '{user}'@'%' IDENTIFIED BY '{pw.replace(chr(39), chr(39) * 2)}'",
        f"GRANT SELECT, SHOW VIEW, TRIGGER, EVENT ON {name}.* TO '{user}'@'%'",
    )
    return name, user, pw


def write_engine_config(
    tmp: Path,
    url_env: str,
    *,
    store: str,
    seaweed: Any = None,
    source_extra: str = "",
    lock: tuple[str, int] | None = ("COMPLIANCE", 1),
    extra: str = "",
) -> tuple[Path, dict[str, str], str | None]:
    env: dict[str, str] = {}
    bucket = None
    if store == "s3":
        bucket = seaweed.make_bucket(lock=True)
        env.update(seaweed.env(writer=True))
        lock_line = f'object_lock = {{ mode = "{lock[0]}", days = {lock[1]} }}' if lock else ""
        store_toml = f"""
            [[stores]]
            name = "offsite"
            kind = "s3"
            endpoint = "{seaweed.endpoint}"
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
            path = "{tmp / "store"}"
            """
    body = f"""
        [state]
        url = "sqlite:///{tmp / "state" / "state.db"}"

        [[sources]]
        name = "app"
        url = "env:{url_env}"
        {source_extra}
        {store_toml}
        [[backups]]
        source = "app"
        store = "offsite"
        schedule = "0 3 * * *"
        {extra}
        """
    p = tmp / "blastwall.toml"
    p.write_text(textwrap.dedent(body))
    return p, env, bucket


def make_engine_setup(
    kind: str,
    source: Any,
    tmp: Path,
    monkeypatch: Any,
    *,
    store: str = "s3",
    seaweed: Any = None,
    source_extra: str = "",
    extra: str = "",
    url: str | None = None,
    database: str = "",
) -> EngineSetup:
    assert url is not None
    path, env, bucket = write_engine_config(
        tmp, "SRC_DATABASE_URL", store=store, seaweed=seaweed, source_extra=source_extra, extra=extra
    )
    env["SRC_DATABASE_URL"] = url
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return EngineSetup(
        kind=kind,
        path=path,
        config=load_config(path),
        env=env,
        tmp=tmp,
        url=url,
        source=source,
        database=database,
        bucket=bucket,
    )


REDIS_EXPECTED = {"redis.db0": 306, "redis.db3": 41}


def fill_redis(server: Any) -> None:
    """db0: 300 strings, a list, a set, a hash, a sorted set, a stream with a consumer group, a key with a TTL;
    db3: 40 strings and a big (1 MiB) value."""
    c = server.client()
    pipe = c.pipeline(transaction=False)
    for i in range(300):
        pipe.set(f"user:{i}", f"value-{i}" * (i % 7 + 1))
    pipe.execute()
    c.rpush("queue", *range(500))
    c.sadd("tags", "a", "b", "c")
    c.hset("config", mapping={"schema": "42", "name": "shop"})
    c.zadd("scores", {f"p{i}": i * 0.5 for i in range(200)})
    c.xadd("events", {"k": "v"})
    c.xgroup_create("events", "workers", id="0")
    c.set("session", "x", ex=3600)
    c3 = server.client(db=3)
    for i in range(40):
        c3.set(f"k{i}", i)
    c3.set("blob", b"\x00\xff" * (512 * 1024))
