"""`[[sources]] railway = {...}`: the URL is looked up on (fake) Railway, the dump comes from a real PostgreSQL."""

from __future__ import annotations

import json
import logging
import secrets
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from graphql import parse, validate
from psycopg.conninfo import conninfo_to_dict

from auditor.backup.manifest import Manifest
from auditor.backup.runner import resolve_source_url
from auditor.config import load_config
from auditor.database_source import DatabaseSource
from auditor.errors import BackupError, ConfigError
from auditor.registry import implementation
from auditor.secrets import Secret
from providers.railway.client import assert_read_only
from providers.railway.database_url import SERVICE_VARIABLES
from tests.support.pg import PgDatabase
from tests.support.railway_fake import RailwayFakeServer, load_schema, small_scenario

from .conftest import EXPECTED, Setup, cli, run_cli


@dataclass
class World:
    setup: Setup
    fake: RailwayFakeServer
    store: Path
    db_url: str  # DATABASE_PUBLIC_URL of shop/production/Postgres (a login with a canary password)


@pytest.fixture
def backup_role(source_db: PgDatabase, canaries: Any) -> Iterator[tuple[str, str]]:
    """A login role with a canary password that can read everything (what a backup user needs)."""
    name, password = f"bw_{secrets.token_hex(4)}", canaries.mint("pw{r}")
    source_db.execute(f"create role {name} login password '{password}'; grant pg_read_all_data to {name}")
    try:
        yield name, password
    finally:
        source_db.execute(f"drop role if exists {name}")


@pytest.fixture
def world(
    tmp_path: Path,
    source_db: PgDatabase,
    backup_role: tuple[str, str],
    railway_fake: RailwayFakeServer,
    canaries: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> World:
    s = small_scenario()
    shop = next(iter(s.projects.values()))
    env = s.env(shop, "production")
    pg = next(x for x in s.services.values() if x.name == "Postgres")
    info = conninfo_to_dict(source_db.server.conninfo(source_db.name).reveal())
    host, port = info["host"], info["port"]
    db_url = f"postgresql://{backup_role[0]}:{backup_role[1]}@{host}:{port}/{source_db.name}"
    s.public_url(env, pg, value=db_url)
    s.private_url(
        env,
        s.service(shop, "Postgres-private"),
        value=canaries.mint("postgresql://postgres:{r}@postgres.railway.internal:5432/railway"),
    )
    s.private_url(env, s.service(shop, "Postgres-reachable"), value=db_url)
    railway_fake.load(s)
    for t in s.tokens.values():
        canaries.add(t.value)
    store = tmp_path / "store"
    body = f"""
        [state]
        url = "sqlite:///{tmp_path / "state" / "state.db"}"

        [[sources]]
        name = "app"
        railway = {{ project = "shop", environment = "production", service = "Postgres", token = "env:RAILWAY_API_TOKEN" }}

        [[sources]]
        name = "private"
        provider = "railway"  # the provider-neutral form (the one above is the deprecated alias)
        ref = {{ project = "shop", service = "Postgres-private" }}
        token = "env:RAILWAY_API_TOKEN"

        [[stores]]
        name = "offsite"
        kind = "local"
        path = "{store}"

        [[backups]]
        source = "app"
        store = "offsite"

        [[backups]]
        source = "private"
        store = "offsite"
        """
    path = tmp_path / "blastwall.toml"
    path.write_text(textwrap.dedent(body))
    envs = {"RAILWAY_API_TOKEN": railway_fake.token("account"), "BLASTWALL_RAILWAY_URL": railway_fake.url}
    for k, v in envs.items():
        monkeypatch.setenv(k, v)
    return World(
        Setup(path=path, config=load_config(path), env=envs, db=source_db, tmp=tmp_path), railway_fake, store, db_url
    )


def _texts(res: Any, caplog: pytest.LogCaptureFixture) -> list[str]:
    return [res.stdout, res.stderr, caplog.text]


def test_backup_run_of_a_railway_source(world: World, canaries: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    res = cli(world.setup, "backup", "run", "app", "--json")
    assert res.returncode == 0, res.stderr
    rec = json.loads(res.stdout)
    assert rec["status"] == "complete" and rec["source"] == "app"

    manifests = list(world.store.rglob("*.manifest.json"))
    assert len(manifests) == 1
    m = Manifest.from_json(manifests[0].read_bytes())
    assert m.expected_counts() == EXPECTED
    assert m.source.via == "railway:shop/production/Postgres"
    assert (m.source.host, m.source.database) == ("127.0.0.1", world.setup.db.name) and m.source.port
    assert m.source.uri == f"postgres://127.0.0.1:{m.source.port}/{world.setup.db.name}"

    # read-only on Railway; the one secret read is this service's variables
    assert world.fake.mutations == []
    assert all(r["type"] == "query" for r in world.fake.requests)
    assert len(world.fake.secret_reads) == 1

    listed = cli(world.setup, "backup", "list", "--json")
    assert listed.returncode == 0
    canaries.assert_absent(
        texts=_texts(res, caplog) + [listed.stdout, listed.stderr], trees=[world.store, world.setup.tmp / "state"]
    )


def test_service_without_public_networking(world: World, canaries: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    res = run_cli(world.setup, "backup", "run", "private", "--config", str(world.setup.path))
    assert res.returncode == 1
    out = res.stdout + res.stderr
    assert "public networking must be enabled on the Railway service" in out
    assert "Postgres-private" in out and "postgres.railway.internal" in out
    assert not list(world.store.rglob("*.manifest.json"))
    canaries.assert_absent(texts=_texts(res, caplog), trees=[world.setup.tmp / "state"])


def test_revoked_token(world: World, canaries: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    world.setup.env["RAILWAY_API_TOKEN"] = world.fake.token("revoked")
    res = run_cli(world.setup, "backup", "run", "app", "--config", str(world.setup.path))
    assert res.returncode == 1
    out = res.stdout + res.stderr
    assert "source 'app': railway: the token was refused" in out and "revoked" in out
    assert world.fake.secret_reads == [] and world.fake.mutations == []
    canaries.assert_absent(texts=_texts(res, caplog), trees=[world.setup.tmp / "state"])


@pytest.mark.parametrize("token", ["account", "workspace", "project"])
def test_every_token_kind_resolves_the_public_url(world: World, token: str) -> None:
    env = {"RAILWAY_API_TOKEN": world.fake.token(token), "BLASTWALL_RAILWAY_URL": world.fake.url}
    url = resolve_source_url(world.setup.config.source("app"), env)
    assert isinstance(url, Secret) and url.reveal() == world.db_url
    expected = "project" if token == "project" else "bearer"
    assert world.fake.requests[-1]["auth"] == expected and world.fake.requests[-1]["fields"] == ["variables"]


def test_private_url_is_used_only_when_reachable(world: World) -> None:
    src = world.setup.config.source("private")
    src = src.model_copy(update={"ref": {**(src.ref or {}), "service": "Postgres-reachable"}})
    assert resolve_source_url(src, world.setup.env).reveal() == world.db_url


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("project", "nope", "no project 'nope' in the token's workspaces or shared with its user (found: shop)"),
        ("environment", "staging", "no environment 'staging' in project 'shop' (found: production)"),
        ("service", "Mongo", "no service 'Mongo' in shop/production (found: Postgres, Postgres-private"),
    ],
)
def test_names_that_do_not_exist(world: World, field: str, value: str, says: str) -> None:
    src = world.setup.config.source("app")
    src = src.model_copy(update={"ref": {**(src.ref or {}), field: value}})
    with pytest.raises(BackupError) as ei:
        resolve_source_url(src, world.setup.env)
    assert says in ei.value.message


def test_the_seam_is_optional_and_the_query_is_read_only(world: World) -> None:
    """A provider that does not implement `DatabaseSource` is a clear error, never a crash."""
    assert isinstance(implementation("railway", DatabaseSource, what="x"), DatabaseSource)
    with pytest.raises(ConfigError, match="the github provider cannot look up database URLs") as ei:
        implementation("github", DatabaseSource, what="look up database URLs")
    assert "railway" in (ei.value.hint or "")
    src = world.setup.config.source("app").model_copy(update={"provider": "github"})
    with pytest.raises(BackupError, match="source 'app': the github provider cannot look up database URLs"):
        resolve_source_url(src, world.setup.env)
    assert_read_only(SERVICE_VARIABLES)
    assert validate(load_schema(), parse(SERVICE_VARIABLES)) == []


def test_offsite_backup_of_a_railway_database_makes_its_volume_recoverable(world: World) -> None:
    """Before the backup, the account token's exposure lists the Postgres volume as unrecoverable; after
    it, the off-platform copy protects that very volume and the volume is no longer unrecoverable."""
    from auditor.audit import AuditOptions, run_audit
    from auditor.state import StateDB

    env = {
        "RAILWAY_API_TOKEN": world.setup.env["RAILWAY_API_TOKEN"],
        "BLASTWALL_RAILWAY_URL": world.setup.env["BLASTWALL_RAILWAY_URL"],
    }
    db = StateDB(world.setup.config.state.url)

    def audit() -> Any:
        return run_audit(AuditOptions(home=None, env=env, config=world.setup.config), db=db)

    before = audit()
    vol = next(
        r
        for r in before.resources
        if r.type == "volume" and "railway:shop/production/Postgres" in r.metadata.get("source_refs", [])
    )
    (exp,) = [e for e in before.exposure if vol.id in e.can_destroy]
    assert vol.id in exp.unrecoverable

    assert cli(world.setup, "backup", "run", "app", "--json").returncode == 0
    after = audit()
    (offsite,) = [b for b in after.backups if b.kind == "offsite-dump"]
    assert offsite.protects == vol.id and offsite.same_blast_radius is False
    (exp,) = [e for e in after.exposure if e.credential == exp.credential]
    assert vol.id in exp.can_destroy and vol.id not in exp.unrecoverable + exp.possibly_unrecoverable


def test_a_project_shared_directly_with_the_user_is_backed_up_by_name(world: World) -> None:
    """Railway lists projects a user was invited to (not their workspace) only under externalWorkspaces."""
    s = world.fake.scenario
    alice = s.users[s.tokens["account"].user_id or ""]
    outsider = s.user("carol@example.com", "Carol")
    agency = s.workspace("agency", [outsider])
    client = s.project(agency, "client-db")
    pg = s.service(client, "Postgres")
    s.public_url(s.env(client, "production"), pg, value=world.db_url)
    s.share_project(alice, client)
    assert agency.id not in alice.workspace_ids
    cfg = world.setup.path
    cfg.write_text(
        cfg.read_text()
        + textwrap.dedent("""
        [[sources]]
        name = "client"
        provider = "railway"
        ref = { project = "client-db" }
        token = "env:RAILWAY_API_TOKEN"

        [[backups]]
        source = "client"
        store = "offsite"
        """)
    )
    res = cli(world.setup, "backup", "run", "client", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["status"] == "complete"
    (m,) = [Manifest.from_json(p.read_bytes()) for p in world.store.rglob("*.manifest.json")]
    assert m.source.via == "railway:client-db/production/Postgres" and m.expected_counts() == EXPECTED
    assert "externalWorkspaces" in [f for r in world.fake.requests for f in r.get("fields", ())]
