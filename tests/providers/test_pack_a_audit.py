"""End to end: the real discovery + run_audit over a home holding GitHub, Stripe, Cloudflare, DigitalOcean
and Fly credentials in their CLI files, dotenv and MCP configs, against the five fake servers."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.audit import AuditOptions, run_audit
from auditor.model import Status
from auditor.provider import ProviderContext
from providers.cloudflare import CloudflareProvider
from providers.digitalocean import DigitalOceanProvider
from providers.fly import FlyProvider
from providers.github import GitHubProvider
from providers.stripe import StripeProvider
from tests.support.fakes.cloudflare import FakeCloudflare
from tests.support.fakes.digitalocean import FakeDigitalOcean
from tests.support.fakes.fly import FakeFly, org_token
from tests.support.fakes.github import FakeGitHub
from tests.support.fakes.stripe import FakeStripe


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, Any]]:
    servers = {
        "github": FakeGitHub(),
        "stripe": FakeStripe(),
        "cloudflare": FakeCloudflare(),
        "digitalocean": FakeDigitalOcean(),
        "fly": FakeFly(),
    }
    for s in servers.values():
        s.start()
    yield servers
    for s in servers.values():
        s.stop()


def _env(fakes: dict[str, Any]) -> dict[str, str]:
    return {
        "BLASTWALL_GITHUB_URL": fakes["github"].url,
        "BLASTWALL_STRIPE_URL": fakes["stripe"].url,
        "BLASTWALL_CLOUDFLARE_URL": fakes["cloudflare"].url + "/client/v4",
        "BLASTWALL_DIGITALOCEAN_URL": fakes["digitalocean"].url,
        "BLASTWALL_FLY_URL": fakes["fly"].url,
    }


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_audit_finds_and_judges_every_credential(tmp_path: Path, fakes: dict[str, Any], canaries: Any) -> None:
    home, repo = tmp_path / "home", tmp_path / "repo"
    gh = fakes["github"].add_token(canaries.add("gho_" + secrets.token_hex(18)), "full")
    gh_env = fakes["github"].add_token(canaries.add("ghp_" + secrets.token_hex(18)), "scoped")
    sk = fakes["stripe"].add_token(canaries.add("sk_live_" + secrets.token_hex(30)), "full")
    sk_test = fakes["stripe"].add_token(canaries.add("sk_test_" + secrets.token_hex(30)), "full")
    cf = fakes["cloudflare"].add_token(canaries.add("cfut_" + secrets.token_hex(20) + secrets.token_hex(4)), "scoped")
    cf_oauth = fakes["cloudflare"].add_token(canaries.add(secrets.token_urlsafe(30)), "full")
    do = fakes["digitalocean"].add_token(canaries.add("dop_v1_" + secrets.token_hex(32)), "full")
    fly = org_token()
    fakes["fly"].add_token(canaries.add(fly.removeprefix("FlyV1 ")), "full")
    cfk = fakes["cloudflare"].add_token(canaries.add("cfk_" + secrets.token_hex(20) + secrets.token_hex(4)), "global")
    decoy = "ghp_" + "x" * 36

    _write(
        home / ".config/gh/hosts.yml", f"github.com:\n    oauth_token: {gh}\n    user: octo\n    git_protocol: ssh\n"
    )
    _write(
        home / ".config/stripe/config.toml",
        f'[default]\ntest_mode_api_key = "{sk_test}"\nlive_mode_api_key = "sk_live_****************abcd"\n'
        'account_id = "acct_1Fake0000000000"\n',
    )
    _write(
        home / ".config/.wrangler/config/default.toml",
        f'oauth_token = "{cf_oauth}"\nexpiration_time = "2030-01-01T00:00:00.000Z"\n',
    )
    _write(home / ".config/doctl/config.yaml", f"access-token: {do}\ncontext: default\n")
    _write(home / ".fly/config.yml", f"access_token: {fly}\n")
    _write(
        home / ".cursor/mcp.json",
        json.dumps(
            {
                "mcpServers": {
                    "github": {"command": "npx", "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": gh_env}},
                    "cloudflare": {"command": "npx", "env": {"CLOUDFLARE_API_TOKEN": cf}},
                }
            }
        ),
    )
    _write(
        repo / ".env",
        f"STRIPE_SECRET_KEY={sk}\nGITHUB_TOKEN={decoy}\n"
        f"CLOUDFLARE_API_KEY={cfk}\nCLOUDFLARE_EMAIL=owner@acme-corp.io\n",
    )
    _write(repo / "README.md", "Stripe keys start with sk_live_; GitHub tokens with ghp_ and github_pat_.\n")

    providers = {
        p.name: p
        for p in (GitHubProvider(), StripeProvider(), CloudflareProvider(), DigitalOceanProvider(), FlyProvider())
    }
    result = run_audit(
        AuditOptions(paths=[repo], home=home, env=_env(fakes), include_env=False),
        providers=providers,
        ctx=ProviderContext(sleep=lambda s: None, timeout_s=5),
    )
    by_provider: dict[str, list[Any]] = {}
    for c in result.credentials:
        by_provider.setdefault(c.provider, []).append(c)
    assert {p: len(v) for p, v in by_provider.items()} == {
        "github": 2,
        "stripe": 2,
        "cloudflare": 3,
        "digitalocean": 1,
        "fly": 1,
    }, by_provider
    kinds = {(c.provider, c.kind): c for c in result.credentials}
    assert kinds[("stripe", "secret_key_live")].root_equivalent is True
    assert kinds[("stripe", "secret_key_test")].root_equivalent is False
    assert kinds[("github", "oauth_token")].root_equivalent is True
    assert kinds[("github", "classic_pat")].root_equivalent is False
    assert kinds[("cloudflare", "user_api_token")].root_equivalent is False
    assert kinds[("fly", "macaroon")].root_equivalent is True
    glob = kinds[("cloudflare", "global_api_key")]
    assert glob.root_equivalent is True and glob.principal == "owner@acme-corp.io"  # e-mail companion used
    assert kinds[("digitalocean", "personal_access_token")].root_equivalent is None  # not probed
    assert all(c.status == Status.verified for c in result.credentials), [
        (c.provider, c.kind, c.status, c.reasons) for c in result.credentials
    ]
    cli = [
        c
        for c in result.credentials
        if c.provider in ("github", "fly", "digitalocean")
        and any(s.path.endswith(("hosts.yml", "config.yml", "config.yaml")) for s in c.sources)
    ]
    assert cli and all(s.category == "cli_config" for c in cli for s in c.sources)
    assert any(r.type == "volume" for r in result.resources)
    for s in fakes.values():
        assert s.writes == []  # FakeFly.writes counts GraphQL mutations, not queries
    assert fakes["fly"].mutations == []
    canaries.assert_absent(texts=[result.model_dump_json()])


def test_audit_survives_down_and_rate_limited_servers(tmp_path: Path, fakes: dict[str, Any], canaries: Any) -> None:
    home = tmp_path / "home"
    gh = fakes["github"].add_token(canaries.add("ghp_" + secrets.token_hex(18)), "full")
    do = fakes["digitalocean"].add_token(canaries.add("dop_v1_" + secrets.token_hex(32)), "full")
    sk = fakes["stripe"].add_token(canaries.add("sk_live_" + secrets.token_hex(30)), "full")
    _write(home / ".config/gh/hosts.yml", f"github.com:\n    oauth_token: {gh}\n")
    _write(home / ".config/doctl/config.yaml", f"access-token: {do}\n")
    env = _env(fakes) | {"BLASTWALL_GITHUB_URL": "http://127.0.0.1:9", "STRIPE_API_KEY": sk}
    fakes["digitalocean"].always_rate_limit = True
    try:
        providers = {p.name: p for p in (GitHubProvider(), StripeProvider(), DigitalOceanProvider())}
        result = run_audit(
            AuditOptions(home=home, env=env, include_env=True),
            providers=providers,
            ctx=ProviderContext(sleep=lambda s: None, timeout_s=1, max_retries=1),
        )
    finally:
        fakes["digitalocean"].always_rate_limit = False
    status = {c.provider: c.status for c in result.credentials}
    assert status == {"github": Status.error, "digitalocean": Status.error, "stripe": Status.verified}
    gap_text = " ".join(g.reason for g in result.coverage_gaps)
    assert result.coverage_gaps, "unreachable providers must be coverage gaps"
    canaries.assert_absent(texts=[result.model_dump_json(), gap_text])
