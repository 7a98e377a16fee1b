"""Railway-resolved MySQL and Redis sources: the URL comes from the (fake) Railway service's MYSQL_PUBLIC_URL /
REDIS_PUBLIC_URL, the dump from a real MariaDB / Redis; the scheme picks the engine."""

from __future__ import annotations

import textwrap

import pytest

from auditor.backup import run_backup
from auditor.backup.manifest import Manifest
from auditor.config import load_config
from tests.backup.engines_env import MYSQL_EXPECTED, REDIS_EXPECTED, fill_mysql, fill_redis, new_mysql_database
from tests.support.railway_fake import small_scenario
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.slow


def test_railway_mysql_and_redis_services_are_backed_up(tmp_path, mariadb, railway_fake, canaries, monkeypatch):
    name, user, pw = new_mysql_database(mariadb)
    import pymysql

    with pymysql.connect(
        unix_socket=str(mariadb.sock), user="root", password="", database=name, autocommit=True
    ) as conn:
        fill_mysql(conn)
    redis = RedisServer().start()
    try:
        fill_redis(redis)
        s = small_scenario()
        shop = next(p for p in s.projects.values() if p.name == "shop")
        crm = s.project(next(iter(s.workspaces.values())), "crm")
        rsvc, msvc = s.service(shop, "Redis", image="redis:8.2"), s.service(crm, "MySQL", image="mysql:9.4")
        s.volume(shop, rsvc, "redis-volume", "/data")
        s.volume(crm, msvc, "mysql-volume", "/var/lib/mysql")
        s.public_url(
            s.env(shop, "production"), rsvc, var="REDIS_PUBLIC_URL", value=redis.url("default", redis.password)
        )
        s.public_url(s.env(crm, "production"), msvc, var="MYSQL_PUBLIC_URL", value=mariadb.url(user, pw, name))
        railway_fake.load(s)
        for t in s.tokens.values():
            canaries.add(t.value)
        path = tmp_path / "blastwall.toml"
        path.write_text(
            textwrap.dedent(f"""
            [state]
            url = "sqlite:///{tmp_path / "state.db"}"

            [[sources]]
            name = "cache"
            provider = "railway"
            ref = {{ project = "shop", environment = "production", service = "Redis" }}
            token = "env:RAILWAY_API_TOKEN"

            [[sources]]
            name = "crm"
            provider = "railway"
            ref = {{ project = "crm", service = "MySQL" }}
            token = "env:RAILWAY_API_TOKEN"

            [[stores]]
            name = "offsite"
            kind = "local"
            path = "{tmp_path / "store"}"

            [[backups]]
            source = "cache"
            store = "offsite"

            [[backups]]
            source = "crm"
            store = "offsite"
            """)
        )
        monkeypatch.setenv("RAILWAY_API_TOKEN", railway_fake.token("account"))
        monkeypatch.setenv("BLASTWALL_RAILWAY_URL", railway_fake.url)
        cfg = load_config(path)
        from auditor.audit import AuditOptions, run_audit
        from auditor.state import StateDB

        env = {"RAILWAY_API_TOKEN": railway_fake.token("account"), "BLASTWALL_RAILWAY_URL": railway_fake.url}

        def audit():
            return run_audit(AuditOptions(home=None, env=env, config=cfg), db=StateDB(cfg.state.url))

        def volume(result, service):
            return next(
                r
                for r in result.resources
                if r.type == "volume"
                and r.metadata.get("database") in ("mysql", "redis")
                and r.metadata.get("service") == service
            )

        def unprotected(result):
            return {f.subject for f in result.findings if f.rule == "no-independent-backup"}

        before = audit()  # both services are listed as having no off-platform backup
        assert {volume(before, "Redis").id, volume(before, "MySQL").id} <= unprotected(before)
        rec = run_backup(cfg, "cache")
        m = Manifest.from_json((tmp_path / "store" / rec.manifest_key).read_bytes())
        assert m.source.kind == "redis" and m.source.via == "railway:shop/production/Redis"
        assert m.expected_counts() == REDIS_EXPECTED
        rec = run_backup(cfg, "crm")
        m = Manifest.from_json((tmp_path / "store" / rec.manifest_key).read_bytes())
        assert m.source.kind == "mysql" and m.source.via.startswith("railway:crm/")
        assert m.expected_counts() == {f"{name}.{t}": n for t, n in MYSQL_EXPECTED.items()}
        text = m.to_json().decode()
        assert pw not in text and redis.password not in text
        after = audit()  # each configured backup protects its Railway database, as a PostgreSQL one does
        by_source = {b.metadata["source"]: b for b in after.backups if b.kind == "offsite-dump"}
        assert by_source["cache"].protects == volume(after, "Redis").id
        assert by_source["crm"].protects == volume(after, "MySQL").id
        assert not {volume(after, "Redis").id, volume(after, "MySQL").id} & unprotected(after)
    finally:
        redis.stop()
