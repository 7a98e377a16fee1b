"""Each converted provider's identify is fetch + a pure judgement: the judgements run here without any HTTP.

The fake-server suites (test_<provider>.py) prove fetch + judge end to end; these pin the decisions
themselves, including the cases a fake rarely reaches (a probe that unexpectedly succeeds, a token
Heroku lists among its authorizations, refused calls).
"""

from __future__ import annotations

import httpx

from auditor.model import Credential, Status
from providers.cloudflare.provider import CloudflareFacts, judge_credential
from providers.digitalocean.provider import PROBES, DigitalOceanFacts
from providers.digitalocean.provider import judge_token as judge_do
from providers.fly.provider import judge_token as judge_fly
from providers.github.provider import judge_token as judge_github
from providers.heroku.provider import HerokuFacts
from providers.heroku.provider import judge_token as judge_heroku
from providers.neon.provider import NeonFacts
from providers.neon.provider import judge_key as judge_neon
from providers.render.provider import RenderFacts
from providers.render.provider import judge_key as judge_render
from providers.stripe.provider import WRITE_PROBES, StripeFacts
from providers.stripe.provider import judge_key as judge_stripe
from providers.supabase.provider import SupabaseFacts
from providers.supabase.provider import judge_token as judge_supabase
from providers.vercel.provider import VercelFacts
from providers.vercel.provider import judge_token as judge_vercel
from tests.providers.contract import make_candidate

VALUE = "judgement-test-secret-0123456789abcdef"


def cred(provider: str, kind: str, value: str = VALUE, **kw: object) -> Credential:
    return Credential.from_candidate(make_candidate(provider, kind, value), **kw)


# -- Neon --------------------------------------------------------------------------------------------------
def test_neon_personal_organization_project_and_unknown() -> None:
    c = cred("neon", "api_key")
    personal = c.judged(judge_neon(c, NeonFacts({"email": "ada@example.test"}, [{"id": "p1"}], None)))
    assert personal.root_equivalent is True and personal.principal == "ada@example.test"
    assert personal.metadata["key_type"] == "personal" and personal.metadata["projects"] == ["p1"]
    org = c.judged(judge_neon(c, NeonFacts(None, [{"id": "p1", "org_id": "o1"}], True)))
    assert org.root_equivalent is True and org.principal == "organization o1"
    project = c.judged(judge_neon(c, NeonFacts(None, [{"id": "p1", "org_id": "o1"}], False)))
    assert project.root_equivalent is False and "delete:project" not in project.capabilities
    assert project.metadata["key_type"] == "project" and project.principal == "project p1"
    refused = c.judged(judge_neon(c, NeonFacts(None, None, None)))
    assert refused.root_equivalent is None and "delete:project" in refused.possible_capabilities
    assert refused.metadata["projects"] is None and refused.status == Status.verified


# -- Heroku ------------------------------------------------------------------------------------------------
def test_heroku_token_that_lists_authorizations_is_root() -> None:
    c = cred("heroku", "api_key")
    mine = {"access_token": {"token": VALUE, "expires_in": 3600}, "scope": ["global"], "description": "cli"}
    v = judge_heroku(c, HerokuFacts({"email": "ada@example.test", "id": "u1"}, False, [mine, {"scope": []}]))
    out = c.judged(v)
    assert out.root_equivalent is True and out.principal == "ada@example.test"
    assert out.metadata["scope"] == ["global"] and out.metadata["expires_in_s"] == 3600
    assert any("2 OAuth authorization(s)" in r for r in out.reasons)


def test_heroku_scoped_and_refused_tokens() -> None:
    c = cred("heroku", "api_key")
    scoped = c.judged(judge_heroku(c, HerokuFacts(None, True, None, True, True, True)))
    assert scoped.root_equivalent is False
    assert scoped.capabilities == ("read:app", "read:config_vars") and "delete:app" in scoped.possible_capabilities
    refused = c.judged(judge_heroku(c, HerokuFacts(None, True, None)))
    assert refused.root_equivalent is None and refused.capabilities == ()
    assert refused.metadata["scope_known"] is False


# -- Render ------------------------------------------------------------------------------------------------
def test_render_classic_scoped_and_unknown() -> None:
    c = cred("render", "api_key")
    two = [{"id": "w1", "name": "one", "type": "team"}, {"id": "w2", "name": "two", "type": "user"}]
    classic = c.judged(judge_render(c, RenderFacts("ada", False, two, ["service", "postgres"], [])))
    assert classic.root_equivalent is True and classic.metadata["key_type"] == "classic"
    scoped = c.judged(judge_render(c, RenderFacts(None, True, two[:1], ["service"], ["postgres"])))
    assert scoped.root_equivalent is False and scoped.possible_capabilities == ("delete:service",)
    assert scoped.metadata["denied_types"] == ["postgres"]
    one = c.judged(judge_render(c, RenderFacts(None, False, two[:1], ["service"], [])))
    assert one.root_equivalent is None, "one workspace, everything listable: classic and scoped look the same"


# -- Supabase ----------------------------------------------------------------------------------------------
def test_supabase_scoped_token_names_missing_permissions() -> None:
    c = cred("supabase", "personal_access_token", "sbp_" + "a" * 40)
    seen = SupabaseFacts([{"ref": "abc"}], [], ["/v1/projects"], ["/v1/organizations"], ["organizations_read"])
    out = c.judged(judge_supabase(c, seen))
    assert out.root_equivalent is False and out.metadata["missing_permissions"] == ["organizations_read"]
    assert out.metadata["organizations"] is None and out.metadata["projects"] == ["abc"]
    classic = c.judged(
        judge_supabase(
            c, SupabaseFacts([{"ref": "abc"}], [{"slug": "o"}], ["/v1/projects", "/v1/organizations"], [], [])
        )
    )
    assert classic.root_equivalent is True and classic.metadata["token_type"] == "classic"


# -- Vercel ------------------------------------------------------------------------------------------------
def test_vercel_full_team_and_refused() -> None:
    c = cred("vercel", "api_token")
    teams = [{"id": "t1", "slug": "acme", "membership": {"role": "VIEWER"}}]
    full = c.judged(judge_vercel(c, VercelFacts({"scopes": [{"type": "user"}]}, False, {"email": "a@x"}, teams)))
    assert full.root_equivalent is True and len(full.metadata["accounts"]) == 2
    team = c.judged(judge_vercel(c, VercelFacts({"scopes": [{"type": "team", "teamId": "t1"}]}, False, None, teams)))
    assert team.root_equivalent is False and team.capabilities == ("read:project",), "a viewer cannot delete"
    refused = c.judged(judge_vercel(c, VercelFacts(None, True, None, [])))
    assert refused.root_equivalent is None and refused.metadata["scope_known"] is False


# -- DigitalOcean and Stripe: write probes ----------------------------------------------------------------
def test_digitalocean_probes_and_an_aborted_probe() -> None:
    c = cred("digitalocean", "token")
    acct = {"account": {"email": "ada@example.test", "team": {"name": "t"}}}
    unprobed = c.judged(judge_do(c, DigitalOceanFacts(acct, 200)))
    assert unprobed.root_equivalent is None and unprobed.principal == "ada@example.test"
    all_allowed = c.judged(judge_do(c, DigitalOceanFacts(acct, 200, {cap: 404 for cap in PROBES})))
    assert all_allowed.root_equivalent is True and all_allowed.metadata["probed"] is True
    denied = c.judged(judge_do(c, DigitalOceanFacts(None, 403, {cap: 403 for cap in PROBES})))
    assert denied.root_equivalent is False and denied.capabilities == ()
    aborted = c.judged(judge_do(c, DigitalOceanFacts(acct, 200, {"delete:database": 204}, "Write probe aborted")))
    assert aborted.status == Status.error and aborted.root_equivalent is None
    assert aborted.reasons[-1] == "Write probe aborted" and "probed" not in aborted.metadata


def test_stripe_restricted_key_probes() -> None:
    c = cred("stripe", "restricted_key_live", root_equivalent=None)
    unprobed = c.judged(judge_stripe(c, StripeFacts(None, 403, ["customers"])))
    assert unprobed.root_equivalent is None and unprobed.metadata["readable"] == ["customers"]
    lacks = {cap: (403 if cap.startswith("create:payout") else 400) for cap in WRITE_PROBES}
    probed = c.judged(judge_stripe(c, StripeFacts({"id": "acct_1"}, 200, [], lacks)))
    assert probed.root_equivalent is False and "create:payout" not in probed.capabilities
    assert probed.metadata["account_id"] == "acct_1"
    aborted = c.judged(judge_stripe(c, StripeFacts(None, 403, [], {"create:refund": 200}, "Write probe aborted")))
    assert aborted.status == Status.error and aborted.reasons[-1] == "Write probe aborted"


# -- GitHub, Cloudflare, Fly: judgement over the raw answers --------------------------------------------------
def test_github_scopes_header_decides() -> None:
    c = cred("github", "classic_pat")
    ok = httpx.Headers({"x-oauth-scopes": "repo, delete_repo"})
    root = c.judged(judge_github(c, (200, {"login": "ada"}, ok)))
    assert (
        root.root_equivalent is True and root.principal == "ada" and root.metadata["scopes"] == ["repo", "delete_repo"]
    )
    fine = c.judged(judge_github(c, (200, {"login": "ada"}, httpx.Headers())))
    assert fine.root_equivalent is None, "no X-OAuth-Scopes: a fine-grained token, permissions unknown"
    err = c.judged(judge_github(c, (500, None, httpx.Headers())))
    assert err.status == Status.error


def test_cloudflare_token_policies_decide() -> None:
    c = cred("cloudflare", "user_api_token")
    verify = (200, {"result": {"id": "tok1", "status": "active"}})
    policies = [{"effect": "allow", "permission_groups": [{"name": "API Tokens Write"}], "resources": {}}]
    seen = CloudflareFacts(verify=verify, token=(200, {"result": {"policies": policies}}))
    out = c.judged(judge_credential(c, seen))
    assert out.status == Status.verified and out.metadata["token_id"] == "tok1"
    unreadable = c.judged(judge_credential(c, CloudflareFacts(verify=verify, token=(403, {}))))
    assert unreadable.root_equivalent is None and unreadable.possible_capabilities
    expired = c.judged(judge_credential(c, CloudflareFacts(verify=(200, {"result": {"id": "t", "status": "expired"}}))))
    assert expired.status == Status.invalid and expired.root_equivalent is False


def test_fly_identity_answer() -> None:
    c = cred("fly", "user_token", reasons=("Fly user token: all-powerful; not yet verified with Fly.",))
    data = {"viewer": {"email": "ada@example.test"}, "organizations": {"nodes": [{"slug": "personal"}]}}
    out = c.judged(judge_fly(c, (200, data)))
    assert out.status == Status.verified and out.principal == "ada@example.test"
    assert out.reasons == ("Verified with Fly; organisations: personal.",)
    assert c.judged(judge_fly(c, (403, None))).status == Status.verified
    assert c.judged(judge_fly(c, (502, None))).status == Status.error
