"""Recognisers, offline classification and identify() for every Railway token kind."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from auditor.discovery import DiscoveryOptions, discover
from auditor.model import SourceCategory, Status
from providers.railway.identity import PROJECT_POSSIBLE
from tests.railway.helpers import candidate


def _ident(provider, ctx, kind, value, **kw):
    return provider.identify(provider.classify(candidate(kind, value, **kw)), ctx)


# -- recognisers (through the real discovery) ---------------------------------------------------------------


def test_discovery_finds_every_railway_location(provider, tmp_path: Path, canaries):
    home, proj = tmp_path / "h", tmp_path / "app"
    (home / ".railway").mkdir(parents=True)
    (home / ".cursor").mkdir()
    proj.mkdir()
    access, refresh, legacy, staging = (canaries.mint("{r}") for _ in range(4))
    api = canaries.add("0b5c1f7e-9d3a-4c2b-8e1f-5a6b7c8d9e0f")
    ptok = canaries.add("7e1d2c3b-4a59-4687-9a0b-1c2d3e4f5a6b")
    (home / ".railway/config.json").write_text(
        json.dumps(
            {
                "projects": {"/home/u/app": {"project": "2a1b3c4d-0000-4000-8000-00000000abcd", "name": "shop"}},
                "user": {"id": "u", "accessToken": access, "refreshToken": refresh, "tokenExpiresAt": 1767225600},
            }
        )
    )
    (home / ".railway/config-staging.json").write_text(json.dumps({"user": {"token": staging}}))
    (home / ".railway/config-dev.json").write_text(json.dumps({"user": {"token": legacy}}))
    (home / ".cursor/mcp.json").write_text(
        json.dumps({"mcpServers": {"railway": {"command": "npx", "env": {"RAILWAY_API_TOKEN": api}}}})
    )
    (proj / ".env").write_text(f"RAILWAY_TOKEN={ptok}\nRAILWAY_PROJECT_ID=2a1b3c4d-0000-4000-8000-00000000abcd\n")
    res = discover(list(provider.recognisers()), DiscoveryOptions(paths=(proj,), home=home))
    found = {c.secret.reveal(): c for c in res.candidates if c.provider == "railway"}
    assert found[access].kind == "cli_login"
    assert found[access].hints.get("tokenExpiresAt") == "1767225600"
    assert found[access].companions["refresh_token"].reveal() == refresh
    assert found[access].sources[0].category == SourceCategory.cli_config
    assert refresh not in found  # the refresh token is a companion, not a separate credential
    assert found[staging].kind == found[legacy].kind == "cli_login"
    assert found[api].kind == "api_token" and found[api].sources[0].category == SourceCategory.agent_config
    assert found[api].sources[0].locator == "mcpServers.railway.env.RAILWAY_API_TOKEN"
    assert found[ptok].kind == "project_token" and found[ptok].sources[0].locator == "RAILWAY_TOKEN"
    assert len(found) == 5  # the project id in config.json / RAILWAY_PROJECT_ID is not a credential


def test_railway_token_must_look_like_a_uuid(provider):
    rec = next(r for r in provider.recognisers() if r.kind == "project_token")
    assert rec.value_pattern.fullmatch("7e1d2c3b-4a59-4687-9a0b-1c2d3e4f5a6b")
    assert not rec.value_pattern.fullmatch("not-a-token")


# -- offline classification ----------------------------------------------------------------------------------


def test_classify_offline(provider):
    p = provider.classify(candidate("project_token", "7e1d2c3b-4a59-4687-9a0b-1c2d3e4f5a6b"))
    assert p.status == Status.unverified and p.root_equivalent is None
    assert set(PROJECT_POSSIBLE) <= set(p.possible_capabilities)
    assert any("unknown but possible" in r for r in p.reasons)
    a = provider.classify(candidate("api_token", "0b5c1f7e-9d3a-4c2b-8e1f-5a6b7c8d9e0f", locator="RAILWAY_API_TOKEN"))
    assert a.root_equivalent is True and "delete:volume" in a.capabilities
    assert any("no permission scopes" in r for r in a.reasons)
    exp = int(time.time()) - 60
    c = provider.classify(
        candidate(
            "cli_login",
            "a" * 40,
            locator="user.accessToken",
            hints={"tokenExpiresAt": str(exp)},
            companions={"refresh_token": "r" * 40},
            category=SourceCategory.cli_config,
        )
    )
    assert c.root_equivalent is True and c.metadata["access_token_expired"] and c.metadata["has_refresh_token"]
    legacy = provider.classify(candidate("cli_login", "b" * 40, locator="user.token"))
    assert legacy.metadata.get("legacy_login") is True


# -- identify ---------------------------------------------------------------------------------------------------


def test_account_token(provider, railway_fake, make_ctx):
    c = _ident(provider, make_ctx(railway_fake.url), "api_token", railway_fake.token("account"))
    assert (c.kind, c.status, c.principal, c.root_equivalent) == (
        "account_token",
        Status.verified,
        "alice@example.com",
        True,
    )
    assert {w["name"] for w in c.metadata["workspaces"]} == {"acme", "alice-side"}
    assert {"delete:volume", "delete:project", "delete:backup"} <= set(c.capabilities)
    assert [r["fields"] for r in railway_fake.requests] == [["apiToken"], ["me"]]


def test_workspace_token_not_authorized_on_me_is_scope_not_death(provider, railway_fake, make_ctx):
    c = _ident(provider, make_ctx(railway_fake.url), "api_token", railway_fake.token("workspace"))
    assert (c.kind, c.status, c.root_equivalent) == ("workspace_token", Status.verified, True)
    assert c.principal == "workspace acme"
    assert any("scope denial" in r for r in c.reasons)


def test_project_token(provider, railway_fake, make_ctx):
    c = _ident(provider, make_ctx(railway_fake.url), "project_token", railway_fake.token("project"))
    assert (c.kind, c.status, c.root_equivalent) == ("project_token", Status.verified, None)
    assert c.principal == "project shop / environment production"
    assert "delete:volume" in c.possible_capabilities and "delete:volume" not in c.capabilities
    # probe order: apiToken (Bearer, refused) then projectToken with Project-Access-Token
    assert [(r["fields"], r["auth"]) for r in railway_fake.requests] == [
        (["apiToken"], "bearer"),
        (["projectToken"], "project"),
    ]


def test_cli_login(provider, railway_fake, make_ctx):
    c = _ident(
        provider,
        make_ctx(railway_fake.url),
        "cli_login",
        railway_fake.token("cli"),
        locator="user.accessToken",
        category=SourceCategory.cli_config,
        hints={"tokenExpiresAt": str(int(time.time()) + 3000)},
    )
    assert (c.kind, c.status, c.principal, c.root_equivalent) == (
        "cli_login",
        Status.verified,
        "alice@example.com",
        True,
    )
    assert "expires_at" in c.metadata


def test_account_token_under_railway_token_is_still_an_account_token(provider, railway_fake, make_ctx):
    c = _ident(provider, make_ctx(railway_fake.url), "project_token", railway_fake.token("account"))
    assert c.kind == "account_token" and c.root_equivalent is True
    assert any("RAILWAY_TOKEN" in r for r in c.reasons)


@pytest.mark.parametrize("name,kind", [("revoked", "api_token"), ("revoked_project", "project_token")])
def test_revoked_token_is_invalid_not_error(provider, railway_fake, make_ctx, name, kind):
    c = _ident(provider, make_ctx(railway_fake.url), kind, railway_fake.token(name))
    assert c.status == Status.invalid and c.root_equivalent is False
    assert c.reasons


def test_expired_cli_login_with_refresh_token_is_not_called_dead(provider, railway_fake, make_ctx):
    c = _ident(
        provider,
        make_ctx(railway_fake.url),
        "cli_login",
        railway_fake.token("revoked"),
        locator="user.accessToken",
        hints={"tokenExpiresAt": str(int(time.time()) - 7200)},
        companions={"refresh_token": "r" * 48},
    )
    assert c.status == Status.unverified and c.root_equivalent is True
    assert any("refresh token" in r for r in c.reasons)
    # the refresh token is never sent anywhere (using it would rotate the login)
    assert railway_fake.requests and all(r["token"] == "revoked" for r in railway_fake.requests)


def test_unreachable_is_error_not_exception(provider, railway_unreachable_url, make_ctx, sleeps):
    c = _ident(
        provider, make_ctx(railway_unreachable_url, max_retries=1), "api_token", "0b5c1f7e-9d3a-4c2b-8e1f-5a6b7c8d9e0f"
    )
    assert c.status == Status.error and "cannot reach" in c.metadata["error"]
    assert c.root_equivalent is True  # still root-equivalent by kind: never "safe" because unverified


def test_5xx_exhausted_is_error(provider, railway_fake, make_ctx):
    railway_fake.fail_5xx(times=100)
    c = _ident(provider, make_ctx(railway_fake.url, max_retries=2), "api_token", railway_fake.token("account"))
    assert c.status == Status.error


def test_bad_endpoint_is_error(provider, make_ctx):
    c = _ident(provider, make_ctx("http://railway.example.com/graphql/v2"), "api_token", "x" * 36)
    assert c.status == Status.error and "plain http" in c.metadata["error"]


def test_offline_sends_nothing(provider, railway_fake, make_ctx):
    c = _ident(provider, make_ctx(railway_fake.url, offline=True), "api_token", railway_fake.token("account"))
    assert c.status == Status.unverified and railway_fake.requests == []


def test_url_via_settings(provider, railway_fake, make_ctx):
    c = _ident(provider, make_ctx(railway_fake.url, via="settings"), "api_token", railway_fake.token("workspace"))
    assert c.status == Status.verified and railway_fake.requests
