"""A Railway TCP-proxy DATABASE_URL in .env next to a Railway account token: one database resource, two destroy
facts (contents via the URL, container via the token) and the right survivors. The Railway fake serves the
account; a local PostgreSQL 17 stands in for the proxy (`shuttle.proxy.rlwy.net` is resolved to 127.0.0.1 by the
provider's injected resolver, and the fake's TCP proxy port is the local server's)."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.audit import AuditOptions, run_audit
from auditor.backup import run_backup, verify_backup
from auditor.config import load_config
from auditor.model import AuditResult, DestroyVerdict, Status
from auditor.provider import ProviderContext
from auditor.state import StateDB
from providers.postgres import PostgresProvider
from providers.railway import RailwayProvider

from .conftest import LoggedPostgres

pytestmark = [pytest.mark.slow]  # real database servers

PROXY = "shuttle.proxy.rlwy.net"


def _audit(proj: Path, fake_url: str, cfg=None, db=None) -> AuditResult:
    providers = {"railway": RailwayProvider(), "postgres": PostgresProvider(resolve={PROXY: "127.0.0.1"})}
    return run_audit(
        AuditOptions(paths=[proj], home=None, include_env=False, env={"BLASTWALL_RAILWAY_URL": fake_url}, config=cfg),
        providers=providers,
        db=db,
        ctx=ProviderContext(timeout_s=3.0, max_retries=1, sleep=lambda s: None),
    )


def _verdict(result: AuditResult, cred: str, kind: str) -> DestroyVerdict:
    (v,) = [v for v in result.verdicts if v.credential == cred and v.kind == kind]
    return v


def test_proxy_url_and_account_token_one_database_two_targets(
    railway_fake, logged_pg: LoggedPostgres, pg_server, tmp_path: Path, canaries, monkeypatch, test_output_dir: Path
) -> None:
    port = logged_pg.server.port
    s = railway_fake.scenario
    for proxy in s.tcp_proxies.values():  # shop/production Postgres: its TCP proxy is our local server
        proxy.proxy_port = port
    token = canaries.add(railway_fake.token("account"))
    owner_pw = canaries.add(logged_pg.passwords["shop_owner"])
    url = f"postgresql://shop_owner:{owner_pw}@{PROXY}:{port}/shop"
    internal = f"postgresql://reader:{canaries.mint('pw{r}')}@postgres.railway.internal:5432/shop"
    proj = tmp_path / "shop"
    proj.mkdir()
    (proj / ".env").write_text(f"DATABASE_URL={url}\nPRIVATE_DATABASE_URL={internal}\nRAILWAY_API_TOKEN={token}\n")

    result = _audit(proj, railway_fake.url)
    creds = {c.sources[0].locator.rsplit(".", 1)[-1]: c for c in result.credentials}
    db_cred, tok = creds["DATABASE_URL"], creds["RAILWAY_API_TOKEN"]
    assert db_cred.status == Status.verified and db_cred.metadata["db"]["summary"] == "owner"
    assert tok.status == Status.verified
    # the private-network URL cannot be reached from here: a gap, and still the same database
    assert creds["PRIVATE_DATABASE_URL"].status == Status.error

    dbs = [r for r in result.resources if r.type == "database" and r.holds_data]
    assert len(dbs) == 1, [d.id for d in dbs]
    (db,) = dbs
    assert db.id == f"postgres://{PROXY}:{port}/shop"
    volume = next(r for r in result.resources if r.id == db.container)
    assert volume.type == "volume" and volume.metadata["service"] == "Postgres"
    assert volume.metadata["environment"] == "production" and volume.metadata["project"] == "shop"
    assert f"{PROXY}:{port}" in volume.metadata["endpoints"]
    assert any(a.startswith("postgres://postgres.railway.internal:5432/") for a in db.metadata["aliases"])

    contents = _verdict(result, db_cred.id, "contents")
    container = _verdict(result, tok.id, "container")
    assert contents.target == db.id and contents.verdict is True
    assert container.target == volume.id and container.verdict is True
    railway_backups = {b.id for b in result.backups if b.protects == volume.id}
    assert len(railway_backups) == 5
    assert set(contents.survivors) == railway_backups
    assert contents.text == "this DATABASE_URL (owner) can wipe shop; Railway's volume backups survive that"
    assert container.survivors == ()
    assert container.text.endswith("no backup survives")
    assert not [v for v in result.verdicts if v.credential == tok.id and v.kind == "contents"]
    assert not [v for v in result.verdicts if v.credential == db_cred.id and v.kind == "container"]
    # the URL cannot delete the volume; the token can destroy the contents too (by deleting the volume)
    exp = {e.credential: e for e in result.exposure}
    assert volume.id not in exp[db_cred.id].can_destroy and db.id in exp[db_cred.id].can_destroy
    assert db.id not in exp[db_cred.id].unrecoverable  # Railway's backups survive a DROP
    assert {db.id, volume.id} <= set(exp[tok.id].unrecoverable)

    # A verified off-platform dump of the same database (same host, port and name) survives both.
    monkeypatch.setenv("SHOP_URL", f"{url}?hostaddr=127.0.0.1&sslmode=disable")
    cfg_path = tmp_path / "blastwall.toml"
    cfg_path.write_text(f"""
[state]
url = "sqlite:///{tmp_path / "state.db"}"

[[sources]]
name = "shop"
url = "env:SHOP_URL"

[[stores]]
name = "offsite"
kind = "local"
path = "{tmp_path / "store"}"

[[backups]]
source = "shop"
store = "offsite"
""")
    cfg = load_config(cfg_path)
    state = StateDB(cfg.state.url)
    rec = run_backup(cfg, "shop", db=state)
    assert verify_backup(cfg, rec.id, db=state, server=pg_server).passed
    result2 = _audit(proj, railway_fake.url, cfg=cfg, db=state)
    (dump,) = [b for b in result2.backups if b.kind == "offsite-dump"]
    assert dump.protects == db.id and dump.survives_contents_loss is True
    c2 = _verdict(result2, db_cred.id, "contents")
    k2 = _verdict(result2, tok.id, "container")
    assert set(c2.survivors) == railway_backups | {dump.id}
    assert c2.text == (
        "this DATABASE_URL (owner) can wipe shop; Railway's volume backups and the off-platform dump survive that"
    )
    assert k2.survivors == (dump.id,)
    assert k2.text.endswith("only the off-platform dump survives")
    exp2 = {e.credential: e for e in result2.exposure}
    assert db.id not in exp2[tok.id].unrecoverable
    # the report card: role, dangerous grants, database and the resource holding it, verdicts, least-privilege SQL
    from reports.html import embedded_texts, render_html

    html = render_html(result2)
    (test_output_dir / "report.html").write_text(html)  # for a look in a browser
    page = html + "".join(embedded_texts(html))
    import html as h

    text = h.unescape(page)
    assert '<code>shop_owner</code> <span class="muted">owner</span>' in text
    assert f"postgres://{PROXY}:{port}/shop" in text and volume.id in text
    assert "drop:database</code> on database shop" in text
    assert c2.text in text and k2.text in text
    assert 'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "app" TO "shop_owner_app";' in text
    canaries.assert_absent(texts=[result.model_dump_json(), result2.model_dump_json(), page])
