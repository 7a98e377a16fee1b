"""Escalation edges: minting keys or tokens for a more powerful service account."""

from __future__ import annotations

from typing import Any

from auditor.engine import analyse
from auditor.model import Credential, Status
from providers.gcp import GcpProvider
from tests.gcp.conftest import MINTER_SA, OWNER_SA, VIEWER_SA, Estate, ctx, key_candidate
from tests.support.fakes.gcp import VIEWER


def _identify(gcp: Estate, *keys: Any) -> tuple[GcpProvider, list[Credential]]:
    p = GcpProvider()
    return p, [p.identify(p.classify(key_candidate(k)), ctx(gcp.fake)) for k in keys]


def test_key_minter_is_root_equivalent_through_the_edge(gcp: Estate, canaries: Any) -> None:
    p, (minter, owner) = _identify(gcp, gcp.minter, gcp.owner)
    # on its own: no destructive permission anywhere, but an unknown edge keeps it from "safe"
    assert minter.status == Status.verified and minter.root_equivalent is not False, minter.reasons
    assert "delete:database" not in minter.capabilities

    inv = p.inventory([minter, owner], ctx(gcp.fake))
    (refined,) = [c for c in inv.credentials if c.id == minter.id and c.root_equivalent is True]
    (edge,) = refined.metadata["edges"]
    assert edge["target"] == OWNER_SA and edge["via"] == ["iam.serviceAccountKeys.create"]
    assert any("escalation edge" in r and OWNER_SA in r for r in refined.reasons)
    # it can destroy what the Owner-like account can: the Cloud SQL instance and its backups
    reach = {f.target for f in inv.facts if f.credential == minter.id and f.verdict is True}
    assert "gcp:cloudsql-instance:shop-prod/orders-db" in reach
    assert all(
        "serviceAccountKeys.create" in f.reason for f in inv.facts if f.credential == minter.id and f.verdict is True
    )
    br = analyse([refined, owner], inv.resources, inv.backups, inv.facts)
    mine = next(x for x in br.exposure if x.credential == minter.id)
    assert "gcp:cloudsql-instance:shop-prod/orders-db" in mine.unrecoverable
    assert gcp.fake.writes == []


def test_edge_to_an_account_that_is_not_root_is_not_root(gcp: Estate) -> None:
    """Token minting for an audited account that is itself not root-equivalent: judged False, with reasons."""
    reporting = gcp.fake.add_service_account("reporting@shop-prod.iam.gserviceaccount.com", "shop-prod")
    gcp.fake.grant(reporting.email, "shop-prod", VIEWER)
    gcp.fake.grant_on_account(VIEWER_SA, reporting.email, {"iam.serviceAccounts.getAccessToken"})
    try:
        p, (viewer, rep) = _identify(gcp, gcp.viewer, reporting)
        assert viewer.root_equivalent is None and rep.root_equivalent is False
        assert any(f"Can become service account {reporting.email}" in r for r in viewer.reasons)
        inv = p.inventory([viewer, rep], ctx(gcp.fake))
        v = {c.id: c for c in inv.credentials}[viewer.id]
        assert v.root_equivalent is False
        assert any("are not root-equivalent themselves" in r for r in v.reasons)
    finally:
        gcp.fake.principals[VIEWER_SA].account_perms.pop(reporting.email)


def test_edge_found_by_listing_service_accounts(gcp: Estate) -> None:
    """With iam.serviceAccounts.list in the project, identify() finds the edge itself (no other key needed)."""
    gcp.fake.grant(MINTER_SA, "shop-prod", {"iam.serviceAccounts.list"})
    try:
        _, (minter,) = _identify(gcp, gcp.minter)
        targets = {e["target"]: e["via"] for e in minter.metadata["edges"]}
        assert targets[OWNER_SA] == ["iam.serviceAccountKeys.create"]
        assert minter.root_equivalent is None, "the target's own power is unknown without its credential"
        assert any(f"Can become service account {OWNER_SA}" in r for r in minter.reasons)
    finally:
        gcp.fake.principals[MINTER_SA].project_perms["shop-prod"].discard("iam.serviceAccounts.list")


def test_cross_project_reach_is_a_finding(gcp: Estate) -> None:
    """A staging service account with Cloud SQL Admin-like grants in production: a finding and destroy facts."""
    gcp.fake.grant(
        MINTER_SA,
        "shop-prod",
        {
            "cloudsql.instances.list",
            "cloudsql.backupRuns.list",
            "cloudsql.instances.delete",
            "cloudsql.instances.update",
            "cloudsql.backupRuns.delete",
        },
    )
    try:
        p, (minter,) = _identify(gcp, gcp.minter)
        inv = p.inventory([minter], ctx(gcp.fake))
    finally:
        gcp.fake.principals[MINTER_SA].project_perms["shop-prod"] = {"resourcemanager.projects.get"}
    (f,) = [f for f in inv.findings if f.rule == "gcp-cross-project-reach"]
    assert "shop-staging" in f.message and "shop-prod" in f.message and "cloudsql.instances.delete" in f.message
    fact = next(
        x for x in inv.facts if x.credential == minter.id and x.target == "gcp:cloudsql-instance:shop-prod/orders-db"
    )
    assert fact.verdict is True and "deletion protection" in fact.reason


def test_permissions_decide_even_where_the_credential_cannot_list(gcp: Estate) -> None:
    """A staging account that may delete Cloud SQL instances in production but not list them: the instance
    another credential listed is still destroyable by it (facts come from the tested permissions)."""
    mig = gcp.fake.add_service_account("migrator@shop-staging.iam.gserviceaccount.com", "shop-staging")
    gcp.fake.grant(mig.email, "shop-staging", {"resourcemanager.projects.get"})
    gcp.fake.grant(mig.email, "shop-prod", {"resourcemanager.projects.get", "cloudsql.instances.delete"})
    p, (migrator, viewer) = _identify(gcp, mig, gcp.viewer)
    inv = p.inventory([migrator, viewer], ctx(gcp.fake))
    assert any("Cloud SQL instances in project shop-prod" in g.reason and g.subject == migrator.id for g in inv.gaps), (
        "its own listing was refused"
    )
    facts = {f.target: f for f in inv.facts if f.credential == migrator.id}
    # orders-db has deletion protection and the key cannot switch it off; analytics-pg has none
    assert facts["gcp:cloudsql-instance:shop-prod/analytics-pg"].verdict is True
    assert facts["gcp:cloudsql-instance:shop-prod/orders-db"].verdict is False
    assert "deletion protection" in facts["gcp:cloudsql-instance:shop-prod/orders-db"].reason
    # buckets: no project-level storage.objects.delete, bucket-level grants not tested: unknown, not "safe"
    assert facts["gcp:bucket:shop-prod-uploads"].verdict is None
    assert facts["gcp:bucket:shop-prod-ledger-archive"].verdict is False, "the locked bucket protects itself"
    (f,) = [f for f in inv.findings if f.rule == "gcp-cross-project-reach" and f.subject == migrator.id]
    assert "cloudsql.instances.delete" in f.message
