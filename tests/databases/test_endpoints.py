"""Which database a URL names and which platform resource holds it; two URLs of one database are one resource."""

from __future__ import annotations

from auditor.dblinks import link_databases
from auditor.model import DestroyFact, Resource
from providers.postgres.endpoints import parse_target


def _t(url: str):
    t = parse_target(url)
    assert t is not None
    return t


def test_supabase_direct_and_pooler_are_one_database() -> None:
    direct = _t("postgresql://postgres:pw@db.abcdefghijklmnopqrst.supabase.co:5432/postgres")
    pooler = _t("postgres://postgres.abcdefghijklmnopqrst:pw@aws-0-eu-central-1.pooler.supabase.com:6543/postgres")
    assert direct.platform == pooler.platform == "supabase"
    assert direct.resource_id == pooler.resource_id == "postgres://db.abcdefghijklmnopqrst.supabase.co:5432/postgres"
    assert "supabase-project:abcdefghijklmnopqrst" in pooler.container_keys


def test_neon_pooler_and_direct_endpoint_are_one_database() -> None:
    a = _t("postgresql://app:pw@ep-cool-darkness-123456.us-east-2.aws.neon.tech/neondb?sslmode=require")
    b = _t("postgresql://app:pw@ep-cool-darkness-123456-pooler.us-east-2.aws.neon.tech/neondb?sslmode=require")
    assert a.resource_id == b.resource_id
    assert a.platform == "neon" and "neon-endpoint:ep-cool-darkness-123456" in b.container_keys
    assert a.params["sslmode"] == "require"


def test_rds_instance_cluster_and_reader() -> None:
    i = _t("postgresql://app:pw@shop-db.c9akciq32.eu-west-1.rds.amazonaws.com:5432/shop")
    assert i.platform == "rds" and "rds-instance:eu-west-1:shop-db" in i.container_keys
    w = _t("mysql://app:pw@shop.cluster-c9akciq32.eu-west-1.rds.amazonaws.com/shop")
    r = _t("mysql://app:pw@shop.cluster-ro-c9akciq32.eu-west-1.rds.amazonaws.com/shop")
    assert "rds-cluster:eu-west-1:shop" in w.container_keys and w.resource_id == r.resource_id


def test_railway_local_and_unknown_hosts() -> None:
    proxy = _t("postgresql://postgres:pw@shuttle.proxy.rlwy.net:41234/railway")
    internal = _t("redis://default:pw@redis.railway.internal:6379")
    local = _t("mysql://root:pw@localhost/shop")
    other = _t("postgres://u:pw@db.example.com/app")
    assert proxy.platform == "railway-proxy" and proxy.container_keys == ("shuttle.proxy.rlwy.net:41234",)
    assert internal.platform == "railway-internal" and internal.resource_id == "redis://redis.railway.internal:6379/0"
    assert local.platform == "local" and local.port == 3306
    assert "mysql://127.0.0.1:3306/shop" in local.aliases
    assert other.platform == "unknown" and other.resource_id == "postgres://db.example.com:5432/app"
    assert parse_target("not a url") is None and parse_target("http://x:y@z/") is None


def _db(t) -> Resource:
    return Resource(
        id=t.resource_id,
        provider="postgres",
        type="database",
        name=t.database,
        holds_data=True,
        metadata={
            "layer": "contents",
            "engine": t.engine,
            "database": t.database,
            "endpoint": t.endpoint,
            "container_keys": list(t.container_keys),
            "aliases": list(t.aliases),
        },
    )


def test_links_two_urls_of_one_railway_database_into_one_resource_with_its_volume() -> None:
    proxy = _t("postgresql://postgres:pw@shuttle.proxy.rlwy.net:41234/railway")
    internal = _t("postgresql://postgres:pw@postgres.railway.internal:5432/railway")
    volume = Resource(
        id="railway:volume-instance:v1",
        provider="railway",
        type="volume",
        name="shop/production/Postgres",
        holds_data=True,
        metadata={"endpoints": ["shuttle.proxy.rlwy.net:41234", "postgres.railway.internal:5432"]},
    )
    facts = [
        DestroyFact(credential="url2", target=internal.resource_id, verdict=True, reason="owner"),
        DestroyFact(credential="tok", target=volume.id, verdict=True, reason="account token"),
    ]
    linked = link_databases([volume, _db(proxy), _db(internal)], [], facts)
    dbs = [r for r in linked.resources if r.type == "database"]
    assert len(dbs) == 1 and dbs[0].id == proxy.resource_id and dbs[0].container == volume.id
    # the fact about the second URL now names the one database; the token's reaches it through the volume
    assert DestroyFact(credential="url2", target=proxy.resource_id, verdict=True, reason="owner") in linked.facts
    derived = [f for f in linked.facts if f.credential == "tok" and f.target == proxy.resource_id]
    assert derived and derived[0].capability == "delete:container" and derived[0].verdict is True


def test_links_supabase_pooler_url_to_the_supabase_project() -> None:
    pooler = _t("postgres://postgres.abcdefghijklmnopqrst:pw@aws-0-eu-central-1.pooler.supabase.com:6543/postgres")
    project = Resource(
        id="supabase:project:abcdefghijklmnopqrst",
        provider="supabase",
        type="project",
        name="shop",
        holds_data=True,
        metadata={"endpoints": ["supabase-project:abcdefghijklmnopqrst"]},
    )
    linked = link_databases([project, _db(pooler)], [], [])
    (db,) = [r for r in linked.resources if r.type == "database"]
    assert db.container == project.id


def test_unknown_host_is_its_own_resource() -> None:
    other = _t("postgres://u:pw@db.example.com/app")
    linked = link_databases([_db(other)], [], [])
    (db,) = linked.resources
    assert db.container is None and db.id == "postgres://db.example.com:5432/app"
