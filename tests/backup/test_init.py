"""`blastwall init`: a starter config, and one proposed from a real audit report.

The report comes from a real `blastwall audit` of a project whose .env holds a Railway token (the
fake Railway GraphQL server, whose shop/production/Postgres points at a real PostgreSQL) and a
local PostgreSQL URL. The proposed config validates, holds no secret, and `backup run` works for
both databases once the variables it names are set.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
from pathlib import Path
from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict

from auditor.backup.manifest import Manifest
from auditor.config import load_config, parse_config
from tests.support.pg import PgDatabase
from tests.support.railway_fake import RailwayFakeServer, small_scenario

from .conftest import BLASTWALL, EXPECTED


def _run(*args: str, env: dict[str, str] | None = None, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BLASTWALL, *args], capture_output=True, text=True, cwd=cwd, timeout=300, env={**os.environ, **(env or {})}
    )


def test_starter_config_validates_and_its_commented_examples_too(tmp_path: Path) -> None:
    p = _run("init", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    text = (tmp_path / "blastwall.toml").read_text()
    cfg = load_config(tmp_path / "blastwall.toml")
    assert [s.name for s in cfg.stores] == ["offsite"] and cfg.stores[0].object_lock is not None
    assert "BLASTWALL_STORE_ACCESS_KEY_ID" in p.stderr  # the variables to set are named
    # the commented examples are a valid config too once uncommented (they cannot rot)
    uncommented = "\n".join(re.sub(r"^# (?=\[|[a-z_]+ = )", "", line) for line in text.splitlines())
    full = parse_config(uncommented)
    assert [s.name for s in full.sources] == ["app"] and full.backups and full.verifications and full.audits
    assert full.state.url
    again = _run("init", cwd=tmp_path)
    assert again.returncode == 1 and "exists" in again.stderr and "--force" in again.stderr


@pytest.fixture
def local_db(pg_db: PgDatabase) -> PgDatabase:
    """A second database on the same server: the 'local PostgreSQL' found as a URL in .env."""
    name = f"t_{secrets.token_hex(5)}"
    pg_db.server.create_database(name)
    db = PgDatabase(pg_db.server, name)
    db.execute(
        "create table notes(id int primary key, body text); "
        "insert into notes select g, 'n' || g from generate_series(1, 12) g"
    )
    return db


def test_init_from_report_proposes_backups_that_run(
    tmp_path: Path, source_db: PgDatabase, local_db: PgDatabase, railway_fake: RailwayFakeServer, canaries: Any
) -> None:
    # Railway: shop/production/Postgres's public URL is a login (canary password) on a real PostgreSQL
    role, password = f"bw_{secrets.token_hex(4)}", canaries.mint("pw{r}")
    source_db.execute(f"create role {role} login password '{password}'; grant pg_read_all_data to {role}")
    info = conninfo_to_dict(source_db.server.conninfo(source_db.name).reveal())
    railway_url = f"postgresql://{role}:{password}@{info['host']}:{info['port']}/{source_db.name}"
    s = small_scenario()
    shop = next(iter(s.projects.values()))
    s.public_url(
        s.env(shop, "production"), next(x for x in s.services.values() if x.name == "Postgres"), value=railway_url
    )
    railway_fake.load(s)
    token = railway_fake.token("account")
    canaries.add(token)
    canaries.add(local_db.password)

    repo = tmp_path / "project"
    repo.mkdir()
    (repo / ".env").write_text(f"RAILWAY_API_TOKEN={token}\nDATABASE_URL={local_db.url}\n")
    fake_env = {"BLASTWALL_RAILWAY_URL": railway_fake.url}
    audit = _run(
        "audit",
        str(repo),
        "--no-home",
        "--no-env",
        "--format",
        "json",
        "-o",
        str(tmp_path / "report"),
        env=fake_env,
        cwd=tmp_path,
    )
    assert audit.returncode == 0, audit.stderr
    report_path = tmp_path / "report" / "blastwall-report.json"
    report = json.loads(report_path.read_text())
    assert any(
        r["provider"] == "railway" and r["type"] == "volume" and r["metadata"].get("database") == "postgres"
        for r in report["resources"]
    )
    assert any(c["provider"] == "postgres" for c in report["credentials"])

    cfg_path = tmp_path / "blastwall.toml"
    init = _run(
        "init", "--from-report", str(report_path), "--store", str(tmp_path / "store"), "-o", str(cfg_path), cwd=tmp_path
    )
    assert init.returncode == 0, init.stderr
    text = cfg_path.read_text()
    cfg = load_config(cfg_path)  # validates
    by_kind = {
        (src.provider or "url"): src
        for src in cfg.sources
        if (src.provider == "railway" and (src.ref or {}).get("environment") == "production") or src.url
    }
    rw, local = by_kind["railway"], by_kind["url"]
    assert rw.ref is not None and (rw.ref["project"], rw.ref["service"]) == ("shop", "Postgres")
    assert str(rw.token) == "env:RAILWAY_API_TOKEN"
    assert local.url is not None and local.url.scheme == "env"
    for src in (rw, local):  # each gets a scheduled backup and a scheduled verification
        assert [b.schedule for b in cfg.backups if b.source == src.name][0]
        assert [v.schedule for v in cfg.verifications if v.source == src.name][0]
    # secrets only as env: references, never literal; the plan names every variable to set
    canaries.assert_absent(texts=[text, init.stdout, init.stderr])
    assert "postgresql://" not in text
    out = " ".join(init.stderr.split())
    url_var = local.url.target
    assert "RAILWAY_API_TOKEN" in out and url_var in out

    env = {"RAILWAY_API_TOKEN": token, url_var: local_db.url, **fake_env}
    for src in (rw, local):
        run = _run("backup", "run", src.name, "--config", str(cfg_path), "--json", env=env, cwd=tmp_path)
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)["status"] == "complete"
        canaries.assert_absent(texts=[run.stdout, run.stderr])
    manifests = [Manifest.from_json(p.read_bytes()) for p in (tmp_path / "store").rglob("*.manifest.json")]
    assert sorted((m.expected_counts() for m in manifests), key=str) == sorted(
        [EXPECTED, {"public.notes": 12}], key=str
    )


def test_plan_skips_covered_and_unsupported_databases_and_refuses_literal_secrets(tmp_path: Path) -> None:
    from auditor.errors import ConfigError
    from auditor.starter import SourceProposal, StoreChoice, plan_from_report
    from providers.railway import RailwayProvider

    vol = {
        "id": "railway:volume-instance:2",
        "provider": "railway",
        "type": "volume",
        "holds_data": True,
        "name": "shop/production/Redis:data",
        "metadata": {"database": "redis", "project": "shop", "environment": "production", "service": "Redis"},
    }
    cred = {
        "provider": "postgres",
        "kind": "database_url",
        "principal": "app@db.internal:5433/app",
        "metadata": {"scheme": "postgresql"},
        "sources": [{"path": "/p/.env", "locator": "DATABASE_URL"}],
    }
    covered = {"protects": "postgres://db.internal:5433/app", "same_blast_radius": False}
    report = {"schema_version": 1, "resources": [vol], "credentials": [cred], "backups": [covered]}
    plan = plan_from_report(report, StoreChoice(str(tmp_path)), {"railway": RailwayProvider()})
    assert plan.proposals == []
    assert any("Redis" in s and "redis" in s for s in plan.skipped)
    assert plan.covered == ["PostgreSQL database app on db.internal:5433"]
    assert "Not proposed: railway volume shop/production/Redis:data" in plan.render()
    # without the backup, the URL is proposed
    plan = plan_from_report({**report, "backups": []}, StoreChoice(str(tmp_path)), {})
    assert [p.entry for p in plan.proposals] == [{"url": "env:APP_DB_INTERNAL_DATABASE_URL"}]

    class Leaky:
        def propose_source(self, resource: Any) -> SourceProposal:
            return SourceProposal(name="x", label="x", entry={"url": "postgresql://u:hunter2@h/db"})

    leaky = {**vol, "provider": "leaky"}
    with pytest.raises(ConfigError, match="not an env:/file: reference"):
        plan_from_report({**report, "resources": [leaky]}, StoreChoice(str(tmp_path)), {"leaky": Leaky()})
