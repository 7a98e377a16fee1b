"""inventory(): the Railway tree, backups, facts and findings, against the fake server."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from auditor.model import Status
from tests.railway.helpers import candidate
from tests.support.railway_fake import default_scenario


def _creds(provider, ctx, fake, *names_kinds):
    return [provider.identify(provider.classify(candidate(k, fake.token(n))), ctx) for n, k in names_kinds]


def _vol(inv, name):
    return next(r for r in inv.resources if r.type == "volume" and r.name.endswith(name))


def test_account_token_inventory(provider, railway_fake, make_ctx):
    ctx = make_ctx(railway_fake.url)
    creds = _creds(provider, ctx, railway_fake, ("account", "api_token"))
    inv = provider.inventory(creds, ctx)
    assert inv.gaps == ()
    types = Counter(r.type for r in inv.resources)
    assert types["workspace"] == 2 and types["project"] == 5 and types["volume"] == 7
    # bob's workspace is out of reach and was never listed
    assert not any("bob" in r.name for r in inv.resources)
    vols = [r for r in inv.resources if r.type == "volume"]
    assert all(r.holds_data and r.id.startswith("railway:volume-instance:") for r in vols)
    pg = _vol(inv, "shop/production/Postgres:postgres-volume")
    assert pg.metadata["database"] == "postgres" and pg.metadata["size_mb"] == 10000
    assert pg.metadata["public_url_exists"] is True
    assert _vol(inv, "crm/production/MySQL:mysql-volume").metadata["database"] == "mysql"
    assert _vol(inv, "shop/production/Redis:redis-volume").metadata["database"] == "redis"
    assert _vol(inv, "blog/production/MongoDB:mongo-volume").metadata["database"] == "mongo"
    assert _vol(inv, "blog/production/MongoDB:mongo-volume").metadata["public_url_exists"] is False
    lab = _vol(inv, "lab/production/pgvector:pg-data")
    assert lab.metadata["pending_deletion"] is True and lab.metadata["state"] == "DELETING"
    assert lab.metadata["deletes_at"]
    # backups: every Railway backup dies with its volume
    assert len(inv.backups) == 8
    assert all(b.dies_with_resource is True and b.independent is False and b.reasons for b in inv.backups)
    kinds = Counter(b.kind for b in inv.backups if b.protects == pg.id)
    assert kinds == {"railway-daily": 3, "railway-weekly": 1, "railway-manual": 1}
    # facts: True for every volume and backup, with capabilities
    facts = {(f.target, f.capability): f.verdict for f in inv.facts if f.credential == creds[0].id}
    assert all(facts[(v.id, "delete:volume")] is True for v in vols)
    assert all(facts[(b.id, "delete:backup")] is True for b in inv.backups)


def test_public_url_detected_without_reading_any_secret(provider, railway_fake, make_ctx, canaries):
    db_url = canaries.mint("postgresql://postgres:{r}@shuttle.proxy.rlwy.net:41234/railway")
    s = railway_fake.scenario
    s.variables[0].value = db_url
    ctx = make_ctx(railway_fake.url)
    inv = provider.inventory(_creds(provider, ctx, railway_fake, ("account", "api_token")), ctx)
    assert railway_fake.secret_reads == []  # `variables` / `variablesForServiceDeployment` never asked
    assert not any(
        f in ("variables", "variablesForServiceDeployment") for r in railway_fake.requests for f in r.get("fields", ())
    )
    canaries.assert_absent(texts=[inv.model_dump_json(), repr(inv)])


def test_findings(provider, railway_fake, make_ctx):
    ctx = make_ctx(railway_fake.url)
    inv = provider.inventory(_creds(provider, ctx, railway_fake, ("account", "api_token")), ctx)
    by_rule: dict[str, set[str]] = {}
    for f in inv.findings:
        by_rule.setdefault(f.rule, set()).add(f.subject)
    ids = {r.name.split(":")[0] + ":" + r.name.split(":")[1]: r.id for r in inv.resources if r.type == "volume"}
    assert by_rule["railway.root-token-agent-readable"]
    assert len(by_rule["railway.database-no-offplatform-backup"]) == 7
    assert by_rule["railway.no-backup-schedule"] == {
        ids["shop/production/Redis:redis-volume"],
        ids["shop/staging/Redis:redis-volume"],
        ids["blog/production/MongoDB:mongo-volume"],
        ids["lab/production/pgvector:pg-data"],
    }
    # staging postgres: daily schedule, newest backup 4 days old
    assert by_rule["railway.backup-stale"] == {ids["shop/staging/Postgres:postgres-volume"]}
    assert by_rule["railway.volume-pending-deletion"] == {ids["lab/production/pgvector:pg-data"]}
    assert by_rule["railway.database-public-url"] == {ids["shop/production/Postgres:postgres-volume"]}


def test_schedule_without_any_backup_is_stale(provider, railway_fake, make_ctx):
    s = railway_fake.scenario
    vi = next(v for v in s.volume_instances.values() if s.volumes[v.volume_id].name == "mongo-volume")
    s.schedule(vi, "DAILY", age=timedelta(days=3))
    ctx = make_ctx(railway_fake.url)
    inv = provider.inventory(_creds(provider, ctx, railway_fake, ("account", "api_token")), ctx)
    stale = [f for f in inv.findings if f.rule == "railway.backup-stale" and f.subject.endswith(vi.id)]
    assert stale and "no backup at all" in stale[0].message


def test_pagination_really_needs_several_pages(provider, railway_fake, make_ctx):
    ctx = make_ctx(railway_fake.url)
    provider.inventory(_creds(provider, ctx, railway_fake, ("account", "api_token")), ctx)
    after = [r for r in railway_fake.requests if r.get("variables", {}).get("after")]
    assert {r["operation"] for r in after} >= {"BlastwallWorkspaceProjects", "BlastwallServiceInstances"}


def test_project_token_reaches_only_its_environment(provider, railway_fake, make_ctx):
    ctx = make_ctx(railway_fake.url)
    creds = _creds(provider, ctx, railway_fake, ("project", "project_token"))
    inv = provider.inventory(creds, ctx)
    vols = [r for r in inv.resources if r.type == "volume"]
    assert {r.metadata["environment"] for r in vols} == {"production"}
    assert {r.metadata["project"] for r in vols} == {"shop"}
    assert {f.verdict for f in inv.facts} == {None}  # unknown-but-possible, never "cannot"
    assert not any(r["fields"] == ["workspace"] for r in railway_fake.requests)


def test_workspace_token_and_cross_workspace_facts(provider, railway_fake, make_ctx):
    ctx = make_ctx(railway_fake.url)
    creds = _creds(
        provider, ctx, railway_fake, ("account", "api_token"), ("workspace", "api_token"), ("project", "project_token")
    )
    acct, ws, proj = creds
    inv = provider.inventory(creds, ctx)
    v = {(f.credential, f.target): f.verdict for f in inv.facts if f.capability == "delete:volume"}
    blog = _vol(inv, "blog/production/MongoDB:mongo-volume").id
    shop_pg = _vol(inv, "shop/production/Postgres:postgres-volume").id
    staging_pg = _vol(inv, "shop/staging/Postgres:postgres-volume").id
    crm = _vol(inv, "crm/production/MySQL:mysql-volume").id
    assert v[(acct.id, blog)] is True and v[(ws.id, shop_pg)] is True
    assert v[(ws.id, blog)] is False  # a workspace token cannot reach another workspace
    assert v[(proj.id, shop_pg)] is None
    assert v[(proj.id, staging_pg)] is None  # volumeDelete acts on the whole volume
    assert v[(proj.id, crm)] is False  # another project
    # each project tree was explored once, not once per credential
    assert sum(1 for r in railway_fake.requests if r.get("operation") == "BlastwallBackups") == 7


def test_revoked_and_error_credentials(provider, railway_fake, make_ctx, railway_unreachable_url):
    ctx = make_ctx(railway_fake.url)
    revoked = _creds(provider, ctx, railway_fake, ("revoked", "api_token"))
    inv = provider.inventory(revoked, ctx)
    assert revoked[0].status == Status.invalid and inv.resources == () and inv.gaps == ()
    bad = make_ctx(railway_unreachable_url, max_retries=0)
    err = [provider.identify(provider.classify(candidate("api_token", railway_fake.token("account"))), bad)]
    inv = provider.inventory(err, bad)
    assert err[0].status == Status.error and inv.gaps and "cannot reach" in inv.gaps[0].reason


def test_out_of_scope_workspace_is_a_gap_never_safe(provider, railway_fake, make_ctx):
    s = railway_fake.scenario
    t = s.token("forbidden", "account", user_id=next(iter(s.users)), forbidden=True)
    ctx = make_ctx(railway_fake.url)
    cred = provider.identify(provider.classify(candidate("api_token", t.value)), ctx)
    assert cred.status == Status.verified and cred.root_equivalent is True
    inv = provider.inventory([cred], ctx)
    assert inv.gaps and all("Not Authorized" in g.reason for g in inv.gaps)
    assert not [f for f in inv.facts if f.verdict is False]


def test_outage_during_inventory_is_a_gap(provider, railway_fake, make_ctx):
    ctx = make_ctx(railway_fake.url, max_retries=1)
    creds = _creds(provider, ctx, railway_fake, ("account", "api_token"))
    railway_fake.fail_5xx(times=1000)
    inv = provider.inventory(creds, ctx)
    assert any("unavailable" in g.reason for g in inv.gaps)
    assert any(f.rule == "railway.root-token-agent-readable" for f in inv.findings)


def test_offline_inventory_sends_nothing(provider, railway_fake, make_ctx):
    ctx = make_ctx(railway_fake.url, offline=True)
    creds = _creds(provider, ctx, railway_fake, ("account", "api_token"))
    inv = provider.inventory(creds, ctx)
    assert railway_fake.requests == [] and inv.gaps and inv.resources == ()


def test_bigger_world_pages_through_everything(provider, railway_fake, make_ctx):
    s = default_scenario()
    ws = next(w for w in s.workspaces.values() if w.name == "acme")
    for i in range(5):
        p = s.project(ws, f"extra-{i}", ("production", "staging", "pr-1"))
        svc = s.service(p, "Postgres", image="postgres:16")
        s.volume(p, svc, f"extra-vol-{i}")
    railway_fake.load(s)
    ctx = make_ctx(railway_fake.url)
    inv = provider.inventory(_creds(provider, ctx, railway_fake, ("workspace", "api_token")), ctx)
    assert sum(1 for r in inv.resources if r.type == "volume" and "extra-vol" in r.name) == 15
    assert inv.gaps == ()


def test_a_project_shared_only_through_external_workspaces_is_inventoried(provider, railway_fake, make_ctx):
    s = railway_fake.scenario
    alice = s.users[s.tokens["account"].user_id]
    secret = next(p for p in s.projects.values() if p.name == "bob-secret")
    ctx = make_ctx(railway_fake.url)
    before = provider.inventory(_creds(provider, ctx, railway_fake, ("account", "api_token")), ctx)
    assert not any(r.name.startswith("bob-secret") for r in before.resources)
    s.share_project(alice, secret)
    inv = provider.inventory(_creds(provider, ctx, railway_fake, ("account", "api_token")), ctx)
    assert inv.gaps == ()
    assert any(r.type == "project" and r.name == "bob-secret" for r in inv.resources)
    vol = _vol(inv, "bob-secret/production/Postgres:bob-pg")
    assert vol.holds_data
    # bob's other projects stay out of reach: only the shared one is visible
    assert not any(r.type == "project" and r.name.startswith("bob-") and r.name != "bob-secret" for r in inv.resources)
    assert railway_fake.mutations == []  # the audit path still sends no mutation
