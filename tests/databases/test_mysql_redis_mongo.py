"""MariaDB (Debian package) and Redis (Debian package) real servers; MongoDB against a stub client only."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from auditor.audit import AuditOptions, run_audit
from auditor.model import Status
from auditor.provider import ProviderContext
from providers.postgres import PostgresProvider
from providers.postgres.endpoints import parse_target
from providers.postgres.inspect_mongo import inspect_mongo
from tests.support.mariadb import MariaDB
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.slow]  # real database servers


def _audit(tmp_path: Path, lines: dict[str, str]):
    proj = tmp_path / "app"
    proj.mkdir()
    (proj / ".env").write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
    result = run_audit(
        AuditOptions(paths=[proj], home=None, include_env=False, env={}),
        providers={"postgres": PostgresProvider()},
        ctx=ProviderContext(timeout_s=3.0),
    )
    return result, {c.sources[0].locator.rsplit(".", 1)[-1]: c for c in result.credentials}


def test_mariadb_owner_like_and_read_only_from_show_grants(mariadb: MariaDB, tmp_path: Path, canaries) -> None:
    pw = {u: canaries.mint("pw{r}")[:30] for u in ("owner", "reader", "viarole")}
    mariadb.admin(
        "CREATE DATABASE IF NOT EXISTS shop",
        "CREATE TABLE IF NOT EXISTS shop.orders (id int primary key)",
        f"CREATE OR REPLACE USER 'owner'@'%' IDENTIFIED BY '{pw['owner']}'",
        "GRANT ALL PRIVILEGES ON shop.* TO 'owner'@'%'",
        f"CREATE OR REPLACE USER 'reader'@'%' IDENTIFIED BY '{pw['reader']}'",
        "GRANT SELECT, SHOW VIEW ON shop.* TO 'reader'@'%'",
        "CREATE ROLE IF NOT EXISTS shop_admin",
        "GRANT DROP, DELETE ON shop.* TO shop_admin",
        f"CREATE OR REPLACE USER 'viarole'@'%' IDENTIFIED BY '{pw['viarole']}'",
        "GRANT SELECT ON shop.* TO 'viarole'@'%'",
        "GRANT shop_admin TO 'viarole'@'%'",
    )
    start = len(mariadb.general_log())
    result, by = _audit(
        tmp_path,
        {
            "DATABASE_URL": mariadb.url("owner", pw["owner"], "shop"),
            "READ_URL": mariadb.url("reader", pw["reader"], "shop"),
            "ROLE_URL": mariadb.url("viarole", pw["viarole"], "shop"),
        },
    )
    own, rdr, rol = by["DATABASE_URL"], by["READ_URL"], by["ROLE_URL"]
    assert all(c.status == Status.verified for c in (own, rdr, rol)), [c.reasons for c in (own, rdr, rol)]
    assert own.root_equivalent is True
    assert {"drop:database", "delete:rows", "alter:table"} <= set(own.capabilities)
    assert any("ALL PRIVILEGES ON shop.*" in g["via"] for g in own.metadata["db"]["grants"])
    assert rdr.root_equivalent is False and rdr.capabilities == ()
    assert any("SELECT" in r and "no DROP, DELETE, ALTER" in r for r in rdr.reasons)
    # privileges that come through a role count, and say so
    assert rol.root_equivalent is False and {"drop:database", "delete:rows"} <= set(rol.capabilities)
    assert any("through role shop_admin" in g["via"] for g in rol.metadata["db"]["grants"])
    v = {x.credential: x for x in result.verdicts}
    assert v[own.id].verdict is True and v[rdr.id].verdict is False
    assert (
        "GRANT SELECT, INSERT, UPDATE, DELETE ON `shop`.* TO 'owner_app'@'%';" in own.metadata["db"]["remediation_sql"]
    )
    # the general log: only our read-only session and SHOW GRANTS, nothing else
    sent = [m.group(1).strip() for m in re.finditer(r"\d+ Query\t(.*)", mariadb.general_log()[start:])]
    assert sent and all(
        re.match(
            r"^(SET NAMES |SELECT VERSION\(\), CURRENT_USER\(\)$|SET SESSION TRANSACTION READ "
            r"ONLY$|SET SESSION max_statement_time = \d+$|SHOW GRANTS$|SET ROLE (`shop_admin`|NONE)$)",
            s,
        )
        for s in sent
    ), sent
    assert sent.count("SET SESSION TRANSACTION READ ONLY") == 3
    # no password (nor its hash) anywhere in the result
    canaries.assert_absent(texts=[result.model_dump_json()])
    assert not any("PASSWORD '*" in str(c.metadata) for c in (own, rdr, rol))
    assert any("IDENTIFIED BY <hidden>" in ln for ln in rdr.metadata["db"]["facts"]["grants"])


def test_mariadb_wrong_password_is_invalid(mariadb: MariaDB, tmp_path: Path) -> None:
    mariadb.admin("CREATE OR REPLACE USER 'someone'@'%' IDENTIFIED BY 'right'")
    _, by = _audit(tmp_path, {"DATABASE_URL": mariadb.url("someone", "wrong", "")})
    assert by["DATABASE_URL"].status == Status.invalid


def test_redis_default_user_flushes_and_get_only_user_does_not(
    redis_server: RedisServer, tmp_path: Path, canaries
) -> None:
    getter_pw, opaque_pw = canaries.mint("g{r}"), canaries.mint("o{r}")
    canaries.add(redis_server.password)
    # "+get" plus the two ACL subcommands a user needs to describe itself
    redis_server.command(
        "ACL", "SETUSER", "getter", "reset", "on", f">{getter_pw}", "~*", "+get", "+acl|whoami", "+acl|getuser"
    )
    redis_server.command("ACL", "SETUSER", "opaque", "reset", "on", f">{opaque_pw}", "~*", "+get")
    redis_server.start_monitor()
    result, by = _audit(
        tmp_path,
        {
            "REDIS_URL": redis_server.url("default", redis_server.password),
            "CACHE_URL": redis_server.url("getter", getter_pw),
            "OPAQUE_URL": redis_server.url("opaque", opaque_pw),
        },
    )
    sent = redis_server.stop_monitor()
    dflt, getter, opaque = by["REDIS_URL"], by["CACHE_URL"], by["OPAQUE_URL"]
    assert dflt.status == getter.status == opaque.status == Status.verified
    assert "flush:keyspace" in dflt.capabilities and dflt.root_equivalent is True
    assert "flush:keyspace" not in getter.capabilities and getter.root_equivalent is False
    assert "flush:keyspace" not in getter.possible_capabilities
    # a user that may not read its own rules is "unknown", never "cannot"
    assert opaque.root_equivalent is None and "flush:keyspace" in opaque.possible_capabilities
    v = {(x.credential, x.kind): x for x in result.verdicts}
    assert v[(dflt.id, "contents")].verdict is True and v[(getter.id, "contents")].verdict is False
    assert v[(opaque.id, "contents")].verdict is None
    # MONITOR: only AUTH (hidden by Redis), HELLO/CLIENT bookkeeping and ACL WHOAMI / ACL GETUSER
    words = [re.sub(r'^"|"$', "", s.split(" ")[0]).upper() for s in sent if "blastwall-monitor-stop" not in s]
    assert words and set(words) <= {"ACL", "AUTH", "CLIENT", "HELLO", "SELECT"}, sent
    assert not any("FLUSH" in s.upper() or s.upper().startswith('"DEL') for s in sent)
    canaries.assert_absent(texts=[result.model_dump_json()])


class _StubAdmin:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def command(self, name: str, **kw: Any) -> dict[str, Any]:
        self.sent.append((name, kw))
        return self.doc


class _StubClient:
    """Stands in for pymongo.MongoClient: no MongoDB server installs on this machine (stub only)."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.admin = _StubAdmin(doc)
        self.kw: dict[str, Any] = {}

    def close(self) -> None:
        pass


def test_mongodb_connection_status_stub_only() -> None:
    # Shapes from the connectionStatus docs (authInfo with showPrivileges: true).
    owner = {
        "authInfo": {
            "authenticatedUsers": [{"user": "app", "db": "shop"}],
            "authenticatedUserRoles": [{"role": "dbOwner", "db": "shop"}],
            "authenticatedUserPrivileges": [
                {
                    "resource": {"db": "shop", "collection": ""},
                    "actions": ["find", "insert", "remove", "update", "dropCollection", "dropDatabase"],
                }
            ],
        },
        "ok": 1,
    }
    reader = {
        "authInfo": {
            "authenticatedUsers": [{"user": "bi", "db": "shop"}],
            "authenticatedUserRoles": [{"role": "read", "db": "shop"}],
            "authenticatedUserPrivileges": [
                {"resource": {"db": "shop", "collection": ""}, "actions": ["find", "listCollections"]}
            ],
        },
        "ok": 1,
    }
    t = parse_target("mongodb://app:pw@mongo.example.net:27017/shop?authSource=shop")
    assert t is not None
    clients: list[_StubClient] = []

    def factory(doc: dict[str, Any]) -> Any:
        def make(**kw: Any) -> _StubClient:
            c = _StubClient(doc)
            c.kw = kw
            clients.append(c)
            return c

        return make

    p = inspect_mongo(t, "pw", client_factory=factory(owner))
    assert p.root_equivalent is True and {"drop:database", "drop:collection", "delete:rows"} <= set(p.capabilities)
    assert {g.scope for g in p.grants} == {"database shop"}
    r = inspect_mongo(t, "pw", client_factory=factory(reader))
    assert r.root_equivalent is False and r.capabilities == () and r.destroys_contents is False
    assert clients[0].admin.sent == [("connectionStatus", {"showPrivileges": True})]
    assert clients[0].kw["connectTimeoutMS"] == 5000 and clients[0].kw["serverSelectionTimeoutMS"] == 5000
