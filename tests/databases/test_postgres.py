"""PostgreSQL 17 (real server, `log_statement = all`): superuser, owner, a role that may DELETE in one schema only
and a read-only role get the right capabilities and verdicts; the server saw only catalogue reads and read-only
session settings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from auditor.audit import AuditOptions, run_audit
from auditor.model import Status
from auditor.provider import ProviderContext
from providers.postgres import PostgresProvider
from providers.postgres.endpoints import parse_target
from providers.postgres.inspect_pg import inspect_postgres

from .conftest import LoggedPostgres

pytestmark = [pytest.mark.slow]  # real database servers

ALLOWED = re.compile(
    r"^(SELECT\s|SET (default_transaction_read_only|statement_timeout|lock_timeout) |"
    r"BEGIN READ ONLY$|ROLLBACK$)",
    re.I,
)
WRITES = re.compile(r"\b(INSERT|UPDATE|DELETE|DROP|TRUNCATE|CREATE|ALTER|GRANT|REVOKE|COPY|CALL|DO)\b", re.I)


def _audit(tmp_path: Path, lines: dict[str, str], **kw: object):
    proj = tmp_path / "app"
    proj.mkdir()
    (proj / ".env").write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
    return run_audit(
        AuditOptions(paths=[proj], home=None, include_env=False, env={}, **kw),  # type: ignore[arg-type]
        providers={"postgres": PostgresProvider()},
        ctx=ProviderContext(timeout_s=3.0),
    )


def test_four_roles_capabilities_verdicts_and_statement_log(
    logged_pg: LoggedPostgres, tmp_path: Path, canaries
) -> None:
    for _r, p in logged_pg.passwords.items():
        canaries.add(p)
    start = logged_pg.log_size()
    result = _audit(
        tmp_path,
        {
            "SUPER_URL": logged_pg.url("postgres"),
            "DATABASE_URL": logged_pg.url("shop_owner"),
            "CLEANER_URL": logged_pg.url("cleaner"),
            "READER_URL": logged_pg.url("reader"),
        },
    )
    by_key = {c.sources[0].locator.rsplit(".", 1)[-1]: c for c in result.credentials}
    assert set(by_key) == {"SUPER_URL", "DATABASE_URL", "CLEANER_URL", "READER_URL"}
    assert all(c.status == Status.verified for c in by_key.values()), [c.reasons for c in by_key.values()]

    sup, own, cln, rdr = (by_key[k] for k in ("SUPER_URL", "DATABASE_URL", "CLEANER_URL", "READER_URL"))
    assert sup.root_equivalent is True and "drop:database" in sup.capabilities
    assert sup.metadata["db"]["summary"] == "superuser"
    assert own.root_equivalent is True and "drop:database" in own.capabilities
    assert own.metadata["db"]["summary"] == "owner"
    assert any("owner of database shop" in r for r in own.reasons)

    assert cln.root_equivalent is False
    assert "delete:rows" in cln.capabilities and "drop:database" not in cln.capabilities
    scopes = {g["scope"] for g in cln.metadata["db"]["grants"] if g["capability"] == "delete:rows"}
    assert scopes == {"schema app"}
    assert any("DELETE on 2 of 2 table(s)" in r for r in cln.reasons)

    assert rdr.root_equivalent is False
    assert not set(rdr.capabilities) & {"drop:database", "delete:rows", "truncate:table", "drop:table"}
    assert any("read-only" in r and "SELECT on" in r for r in rdr.reasons)

    # one database resource for the four URLs, and a contents verdict for each
    dbs = [r for r in result.resources if r.type == "database"]
    assert [d.id for d in dbs] == [f"postgres://127.0.0.1:{logged_pg.server.port}/shop"]
    verdicts = {v.credential: v for v in result.verdicts if v.kind == "contents"}
    assert verdicts[sup.id].verdict is True and "(superuser) can wipe shop" in verdicts[sup.id].text
    assert verdicts[own.id].verdict is True and verdicts[own.id].text.startswith("this DATABASE_URL (owner) can wipe")
    assert verdicts[cln.id].verdict is True and "can delete in schema app" in verdicts[cln.id].text
    assert verdicts[rdr.id].verdict is False and "cannot wipe shop" in verdicts[rdr.id].text
    assert "no known backup survives" in verdicts[own.id].text
    exposed = {e.credential for e in result.exposure}
    assert {sup.id, own.id, cln.id} <= exposed and rdr.id not in exposed
    # remediation SQL for the owner: a DML-only role
    fix = "\n".join(own.metadata["db"]["remediation_sql"])
    assert 'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "app" TO "shop_owner_app";' in fix

    statements = logged_pg.statements_since(start)
    assert len(statements) >= 4 * 6, statements
    bad = [s for s in statements if not ALLOWED.match(s) or (WRITES.search(s) and not s.upper().startswith("SELECT"))]
    assert not bad, bad
    assert statements.count("SET default_transaction_read_only = on") == 4
    # catalogue reads only: no user table is ever named
    assert not [s for s in statements if re.search(r"\b(orders|carts|entries|settings)\b", s)]
    assert all("pg_roles" in s or "pg_namespace" in s for s in statements if s.startswith("SELECT"))
    assert statements.count("BEGIN READ ONLY") == 4
    canaries.assert_absent(texts=[result.model_dump_json(), "\n".join(map(repr, result.credentials))])


def test_wrong_password_is_invalid_and_the_audit_goes_on(logged_pg: LoggedPostgres, tmp_path: Path) -> None:
    bad = logged_pg.url("reader").replace(logged_pg.passwords["reader"], "not-the-password")
    result = _audit(tmp_path, {"BAD_URL": bad, "READER_URL": logged_pg.url("reader")})
    by_key = {c.sources[0].locator.rsplit(".", 1)[-1]: c for c in result.credentials}
    assert by_key["BAD_URL"].status == Status.invalid
    assert "refused this login" in by_key["BAD_URL"].reasons[0]
    assert by_key["READER_URL"].status == Status.verified


def test_no_db_connect_and_offline_send_nothing(logged_pg: LoggedPostgres, tmp_path: Path) -> None:
    start = logged_pg.log_size()
    for kw, why in (({"db_connect": False}, "--no-db-connect"), ({"offline": True}, "offline")):
        d = tmp_path / why
        d.mkdir()
        result = _audit(d, {"DATABASE_URL": logged_pg.url("shop_owner")}, **kw)
        (c,) = result.credentials
        assert c.status == Status.unverified and c.root_equivalent is None
        assert any(c.id == g.subject or "offline" in g.reason for g in result.coverage_gaps)
    assert logged_pg.statements_since(start) == []


def test_config_switch_turns_connections_off(logged_pg: LoggedPostgres) -> None:
    t = parse_target(logged_pg.url("reader"))
    assert t is not None
    p = PostgresProvider()
    from auditor.model import Candidate, Source
    from auditor.secrets import Secret

    cand = Candidate(
        provider="postgres",
        kind="database_url",
        secret=Secret(logged_pg.url("reader")),
        sources=(Source(path="x/.env", locator="DATABASE_URL"),),
    )
    cred = p.classify(cand)
    start = logged_pg.log_size()
    same = p.identify(cred, ProviderContext(settings={"connect": False}))
    assert same.status == Status.unverified
    assert logged_pg.statements_since(start) == []
    assert p.identify(cred, ProviderContext()).status == Status.verified


def test_inspector_direct(logged_pg: LoggedPostgres) -> None:
    t = parse_target(logged_pg.url("cleaner"))
    assert t is not None
    p = inspect_postgres(t, logged_pg.passwords["cleaner"])
    assert p.destroys_contents is True and p.root_equivalent is False
    assert {(g.capability, g.scope) for g in p.grants} == {("delete:rows", "schema app")}


def test_cli_no_db_connect_flag_and_config_switch(logged_pg: LoggedPostgres, tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".env").write_text(f"DATABASE_URL={logged_pg.url('reader')}\n")
    env = {**os.environ, "BLASTWALL_STATE_DIR": str(tmp_path / "state")}
    exe = str(Path(sys.executable).with_name("blastwall"))
    base = [exe, "audit", str(repo), "--no-home", "--no-env", "--json", "--no-history", "-o", str(tmp_path / "o")]
    cfg = tmp_path / "blastwall.toml"
    cfg.write_text("[providers.postgres]\nconnect = false\n")
    start = logged_pg.log_size()
    for extra in (["--no-db-connect"], ["--config", str(cfg)]):
        proc = subprocess.run(base + extra, capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-1500:]
        (c,) = json.loads(proc.stdout)["credentials"]
        assert c["status"] == "unverified" and c["root_equivalent"] is None
    assert logged_pg.statements_since(start) == []
    proc = subprocess.run(base, capture_output=True, text=True, env=env, timeout=120, cwd=repo)  # no config here
    (c,) = json.loads(proc.stdout)["credentials"]
    assert c["status"] == "verified" and c["root_equivalent"] is False
    assert logged_pg.statements_since(start)


def test_pgpass_line_is_inspected_like_a_url(logged_pg: LoggedPostgres, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    pw = logged_pg.passwords["cleaner"]
    (home / ".pgpass").write_text(
        f"# local\n127.0.0.1:{logged_pg.server.port}:shop:cleaner:{pw}\n*:*:*:someone:wildcards-are-not-inspected\n"
    )
    result = run_audit(
        AuditOptions(paths=[], home=home, include_env=False, env={}),
        providers={"postgres": PostgresProvider()},
        ctx=ProviderContext(timeout_s=3.0),
    )
    by_line = {c.sources[0].locator: c for c in result.credentials}
    assert set(by_line) == {"line 2", "line 3"}
    c = by_line["line 2"]
    assert c.status == Status.verified and c.metadata["db"]["summary"] == "can delete in schema app"
    assert by_line["line 3"].status == Status.unverified  # wildcard host: nothing to connect to
    assert any(g.subject == by_line["line 3"].id and "wildcard" in g.reason for g in result.coverage_gaps)
    assert pw not in result.model_dump_json()
