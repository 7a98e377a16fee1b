"""Unreachable APIs become coverage gaps; endpoints are overridable; impersonation configs; no side effects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from auditor.audit import AuditOptions, run_audit
from auditor.errors import ProviderError
from auditor.model import Status
from auditor.provider import ProviderContext
from providers.gcp import GcpProvider
from providers.gcp.auth import Endpoints
from tests.gcp.conftest import GCLOUD_CLIENT_ID, OWNER_SA, USER, Estate, ctx, key_candidate
from tests.providers.contract import Blackhole


def test_cloudsql_api_unreachable_is_a_gap_not_a_clean_bill(gcp: Estate) -> None:
    p = GcpProvider()
    with gcp.fake.unavailable(r"/v1/projects/[^/]+/instances"):
        cred = p.identify(p.classify(key_candidate(gcp.owner)), ctx(gcp.fake, max_retries=1))
        assert cred.status == Status.verified and cred.root_equivalent is True
        inv = p.inventory([cred], ctx(gcp.fake, max_retries=1))
    (gap,) = [g for g in inv.gaps if "Cloud SQL instances" in g.reason]
    assert "shop-prod" in gap.reason and "503" in gap.reason and gap.subject == cred.id
    assert not [r for r in inv.resources if r.type == "database"], "nothing invented for what was not listed"
    assert [r for r in inv.resources if r.type == "bucket"], "the other APIs were still inspected"
    assert gcp.fake.writes == []


def test_everything_unreachable_is_an_error_and_a_gap(gcp: Estate) -> None:
    with Blackhole() as hole:
        opts = AuditOptions(home=None, include_env=False, env={"BLASTWALL_GCP_URL": hole.url})
        p = GcpProvider()
        cand = key_candidate(gcp.owner)
        cred = p.identify(
            p.classify(cand),
            ProviderContext(env=dict(opts.env or {}), timeout_s=0.3, max_retries=0, sleep=lambda s: None),
        )
    assert cred.status == Status.error and cred.root_equivalent is None
    assert any("timed out" in r for r in cred.reasons)
    inv = p.inventory([cred], ProviderContext(env={"BLASTWALL_GCP_URL": "http://127.0.0.1:9"}))
    assert inv.gaps and inv.gaps[0].subject == cred.id and "not inspected" in inv.gaps[0].reason


def test_token_url_is_separate_from_the_api_root(gcp: Estate) -> None:
    """BLASTWALL_GCP_TOKEN_URL serves the grant; the APIs at an unreachable root leave the credential in error."""
    p = GcpProvider()
    env = {"BLASTWALL_GCP_TOKEN_URL": gcp.fake.url + "/token", "BLASTWALL_GCP_URL": "http://127.0.0.1:9"}
    cred = p.identify(
        p.classify(key_candidate(gcp.owner)), ProviderContext(env=env, max_retries=0, sleep=lambda s: None)
    )
    assert [x for x in gcp.fake.log if x == ("POST", "/token")], "the grant went to the token URL"
    assert len(gcp.fake.log) == 1
    assert cred.status == Status.error and "cannot reach" in cred.reasons[-1]


def test_endpoints_from_config_and_refused_hosts(gcp: Estate) -> None:
    e = Endpoints.from_context(
        ProviderContext(
            settings={"url": "https://gcp.internal.example/", "token_url": "https://sts.internal.example/token"}
        )
    )
    assert e.token_url == "https://sts.internal.example/token" and e.api("sqladmin") == "https://gcp.internal.example"
    d = Endpoints.from_context(ProviderContext())
    assert d.token_url == "https://oauth2.googleapis.com/token"
    assert (
        d.api("sqladmin") == "https://sqladmin.googleapis.com" and d.api("storage") == "https://storage.googleapis.com"
    )
    assert d.generate_access_token_url("a@b.iam.gserviceaccount.com") == (
        "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/a@b.iam.gserviceaccount.com"
        ":generateAccessToken"
    )
    with pytest.raises(ProviderError, match="refusing"):
        Endpoints.from_context(ProviderContext(env={"BLASTWALL_GCP_TOKEN_URL": "http://evil.example/token"}))
    p = GcpProvider()
    cred = p.identify(
        p.classify(key_candidate(gcp.owner)), ProviderContext(env={"BLASTWALL_GCP_URL": "http://evil.example"})
    )
    assert cred.status == Status.error and "refusing" in cred.reasons[-1]


def test_impersonation_config_uses_generate_access_token(gcp: Estate, tmp_path: Path, canaries: Any) -> None:
    """An ADC file of type impersonated_service_account: refresh grant for the user, then generateAccessToken."""
    gcp.fake.grant_on_account(USER, OWNER_SA, {"iam.serviceAccounts.getAccessToken"})
    home = tmp_path / "home"
    (home / ".config" / "gcloud").mkdir(parents=True)
    (home / ".config" / "gcloud" / "application_default_credentials.json").write_text(
        json.dumps(
            {
                "type": "impersonated_service_account",
                "delegates": [],
                "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/"
                f"{OWNER_SA}:generateAccessToken",
                "source_credentials": {
                    "type": "authorized_user",
                    "client_id": GCLOUD_CLIENT_ID,
                    "client_secret": gcp.user_secret,
                    "refresh_token": gcp.user_refresh,
                },
            }
        )
    )
    try:
        result = run_audit(
            AuditOptions(home=home, include_env=False, env={"BLASTWALL_GCP_URL": gcp.fake.url}),
            providers={"gcp": GcpProvider()},
            ctx=ProviderContext(sleep=lambda s: None),
        )
    finally:
        gcp.fake.principals[USER].account_perms.pop(OWNER_SA)
    (cred,) = [c for c in result.credentials if c.provider == "gcp"]
    assert cred.status == Status.verified and cred.principal == OWNER_SA and cred.root_equivalent is True
    assert any("generateAccessToken" in r for r in cred.reasons)
    assert ("POST", f"/v1/projects/-/serviceAccounts/{OWNER_SA}:generateAccessToken") in gcp.fake.log
    assert gcp.fake.writes == []
    canaries.assert_absent(texts=[result.model_dump_json()])


def test_rate_limited_inventory_honours_retry_after(gcp: Estate) -> None:
    p = GcpProvider()
    sleeps: list[float] = []
    c = ProviderContext(env={"BLASTWALL_GCP_URL": gcp.fake.url}, sleep=sleeps.append)
    cred = p.identify(p.classify(key_candidate(gcp.owner)), c)
    gcp.fake.rate_limit_next, gcp.fake.retry_after = 2, 11
    try:
        inv = p.inventory([cred], c)
    finally:
        gcp.fake.retry_after = 1
    assert sleeps.count(11.0) == 2, sleeps
    assert not inv.gaps or all("Firestore" in g.reason for g in inv.gaps), [g.reason for g in inv.gaps]
    assert any(r.type == "database" for r in inv.resources)


def test_a_project_it_may_not_inspect_is_possible_reach_not_safety(gcp: Estate) -> None:
    """An account with no grant Blastwall can see: Google refuses testIamPermissions on its own project."""
    ghost = gcp.fake.add_service_account("ghost@shop-prod.iam.gserviceaccount.com", "shop-prod")
    p = GcpProvider()
    cred = p.identify(p.classify(key_candidate(ghost)), ctx(gcp.fake))
    assert cred.status == Status.verified and cred.root_equivalent is None
    assert cred.capabilities == () and "delete:database" in cred.possible_capabilities
    assert any("permissions in project shop-prod were not tested" in r for r in cred.reasons)
    inv = p.inventory([cred], ctx(gcp.fake))
    assert any("not tested" in g.reason for g in inv.gaps)
    assert not [f for f in inv.facts if f.credential == cred.id and f.verdict is False]


def test_impersonation_without_token_creator_is_refused_by_iam_credentials(gcp: Estate) -> None:
    from tests.providers.contract import make_candidate

    cand = make_candidate(
        "gcp",
        "user_refresh_token",
        gcp.user_refresh,
        locator="source_credentials.refresh_token",
        companions={"client_id": GCLOUD_CLIENT_ID, "client_secret": gcp.user_secret},
        hints={"impersonate": OWNER_SA},
    )
    p = GcpProvider()
    cred = p.identify(p.classify(cand), ctx(gcp.fake))
    assert cred.status == Status.invalid
    assert "IAM Credentials (generateAccessToken)" in cred.reasons[0] and "PERMISSION_DENIED" in cred.reasons[0]
    bad = make_candidate(
        "gcp",
        "user_refresh_token",
        "1//0g" + "z" * 60,
        locator="source_credentials.refresh_token",
        companions={"client_id": GCLOUD_CLIENT_ID, "client_secret": gcp.user_secret},
        hints={"impersonate": OWNER_SA},
    )
    cred = p.identify(p.classify(bad), ctx(gcp.fake))
    assert cred.status == Status.invalid and "Google refused" in cred.reasons[0] and "invalid_grant" in cred.reasons[0]
    assert gcp.fake.writes == []
