"""Cloud SQL backups die with the instance: unrecoverable for the Owner-like key until an off-platform
backup of that database (by the instance's public IP) is configured and verified."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from auditor.audit import AuditOptions, run_audit
from auditor.backup import run_backup, verify_backup
from auditor.config import load_config
from auditor.model import AuditResult
from auditor.provider import ProviderContext
from auditor.state import StateDB
from providers.gcp import GcpProvider
from tests.gcp.conftest import OWNER_SA, VIEWER_SA, Estate
from tests.support.fakes.gcp import GOOGLE_TOKEN_URL
from tests.support.pg import PgDatabase

ORDERS = "gcp:cloudsql-instance:shop-prod/orders-db"


def _audit(gcp: Estate, keys_dir: Path, config: Any = None) -> AuditResult:
    opts = AuditOptions(
        paths=(keys_dir,), home=None, include_env=False, config=config, env={"BLASTWALL_GCP_URL": gcp.fake.url}
    )
    db = StateDB(config.state.url) if config is not None else None
    return run_audit(opts, providers={"gcp": GcpProvider()}, ctx=ProviderContext(sleep=lambda s: None), db=db)


def _keys(tmp: Path, gcp: Estate) -> Path:
    d = tmp / "keys"
    d.mkdir()
    for name, key in (("owner", gcp.owner), ("viewer", gcp.viewer)):
        (d / f"{name}.json").write_text(json.dumps(key.key_file(GOOGLE_TOKEN_URL)))
    return d


def _cred(result: AuditResult, principal: str) -> str:
    return next(c.id for c in result.credentials if c.principal == principal)


def _exposure(result: AuditResult, cred: str) -> Any:
    return next((x for x in result.exposure if x.credential == cred), None)


@pytest.fixture
def orders_db(pg_db: PgDatabase) -> PgDatabase:
    pg_db.execute(
        "create table orders(id int primary key, total numeric); "
        "insert into orders select g, g * 1.5 from generate_series(1, 40) g"
    )
    return pg_db


def test_cloudsql_backups_same_blast_radius_until_offsite_backup_verified(
    gcp: Estate, tmp_path: Path, orders_db: PgDatabase, pg_server: Any, monkeypatch: pytest.MonkeyPatch, canaries: Any
) -> None:
    keys = _keys(tmp_path, gcp)
    before = _audit(gcp, keys)
    owner, viewer = _cred(before, OWNER_SA), _cred(before, VIEWER_SA)

    # the instance and its configuration as Cloud SQL reports them
    inst = next(r for r in before.resources if r.id == ORDERS)
    assert inst.metadata["engine"] == "POSTGRES_16" and inst.metadata["deletion_protection"] is True
    assert inst.metadata["backups_enabled"] is True and inst.metadata["retained_backups"] == 7
    assert inst.metadata["retain_backups_on_delete"] is False
    runs = [b for b in before.backups if b.protects == ORDERS]
    assert len(runs) == 3, "two automated and one on-demand run (the FAILED run is no backup)"
    assert {b.kind for b in runs} == {"automated", "on_demand"}
    assert all(b.same_blast_radius is True and b.dies_with_resource is True for b in runs)
    assert all(any("together with the instance" in r for r in b.reasons) for b in runs)

    # retained backups (retainBackupsOnDelete) outlive the instance but the Owner-like key can delete them too
    (kept,) = [b for b in before.backups if b.protects.endswith("/legacy-mysql")]
    assert kept.dies_with_resource is False and kept.same_blast_radius is True

    # deletion protection on, but the key holds cloudsql.instances.update: it can switch it off and delete
    assert ORDERS in _exposure(before, owner).unrecoverable
    assert _exposure(before, viewer) is None, "the viewer can destroy nothing"

    # buckets: an unlocked retention policy is no protection, a locked one is, even against the Owner-like key
    buckets = {r.name: r for r in before.resources if r.type == "bucket"}
    assert buckets["shop-prod-ledger-archive"].metadata["retention_locked"] is True
    assert buckets["shop-prod-uploads"].metadata["retention_unlocked"] is True
    can = _exposure(before, owner).can_destroy
    assert "gcp:bucket:shop-prod-uploads" in can and "gcp:bucket:shop-prod-ledger-archive" not in can
    # the final backup of an instance deleted last week is data of its own, destroyable by the key
    (final,) = [r for r in before.resources if r.type == "database-backup"]
    assert final.metadata["instance"] == "orders-db-2024" and final.metadata["type"] == "FINAL"
    assert final.id in _exposure(before, owner).unrecoverable
    # Firestore and Spanner are not listed: a gap, because the key may delete them
    assert any("Firestore and Spanner" in g.reason and "shop-prod" in g.reason for g in before.coverage_gaps)

    # an off-platform backup of the database behind the instance's public IP, made and verified for real
    monkeypatch.setenv("SRC_DATABASE_URL", orders_db.url)
    canaries.add(orders_db.password)
    cfg_path = tmp_path / "blastwall.toml"
    cfg_path.write_text(
        textwrap.dedent(f"""
        [state]
        url = "sqlite:///{tmp_path / "state.db"}"
        [[sources]]
        name = "orders"
        url = "env:SRC_DATABASE_URL"
        [[stores]]
        name = "offsite"
        kind = "local"
        path = "{tmp_path / "store"}"
        [[backups]]
        source = "orders"
        store = "offsite"
        schedule = "0 3 * * *"
        """)
    )
    config = load_config(cfg_path)
    configured = _audit(gcp, keys, config)
    assert ORDERS in _exposure(configured, _cred(configured, OWNER_SA)).unrecoverable, (
        "configured but never run: still unrecoverable"
    )

    rec = run_backup(config, "orders")
    assert verify_backup(config, rec.id, server=pg_server).passed
    after = _audit(gcp, keys, config)
    (offsite,) = [b for b in after.backups if b.kind == "offsite-dump"]
    assert offsite.protects == ORDERS, "linked to the Cloud SQL instance through its public IP"
    assert offsite.last_verification == "passed" and offsite.same_blast_radius is False
    exp = _exposure(after, _cred(after, OWNER_SA))
    assert ORDERS in exp.can_destroy and ORDERS not in exp.unrecoverable
    assert "gcp:cloudsql-instance:shop-prod/analytics-pg" in exp.unrecoverable, "other instances stay exposed"
    assert gcp.fake.writes == []
    canaries.assert_absent(texts=[r.model_dump_json() for r in (before, configured, after)])
