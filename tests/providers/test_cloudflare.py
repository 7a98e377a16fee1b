"""Cloudflare provider: the shared contract plus policies, account tokens, Global API Key and D1 backups."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from auditor.model import Status
from auditor.provider import ProviderContext
from providers.cloudflare import CloudflareProvider
from tests.providers.contract import ProviderContract, make_candidate, recognise_file, recognise_key
from tests.support.fakes.cloudflare import ACCT_A, ACCT_B, FakeCloudflare


def _tok(prefix: str = "cfut_") -> str:
    return prefix + secrets.token_urlsafe(40).replace("-", "x").replace("_", "y")[:40] + secrets.token_hex(4)


class TestCloudflareContract(ProviderContract):
    provider_cls = CloudflareProvider
    url_env = "BLASTWALL_CLOUDFLARE_URL"
    prose_decoys = [
        "New tokens use the prefixes cfut_, cfat_ and cfk_ followed by 40 characters and a checksum.",
        "CLOUDFLARE_API_TOKEN=<your token>",
        "a 40-char sha1: 3f2a9d1c0b8e7f6a5d4c3b2a1f0e9d8c7b6a5f4e",
    ]

    @classmethod
    def make_fake(cls) -> FakeCloudflare:
        return FakeCloudflare().start()

    def base_url(self, fake: FakeCloudflare) -> str:
        return fake.url + "/client/v4"

    def candidate(self, fake: FakeCloudflare, canaries: Any, profile: str):
        value = canaries.add(_tok())
        if profile != "invalid":
            fake.add_token(value, profile)
        return make_candidate("cloudflare", "user_api_token", value, locator="CLOUDFLARE_API_TOKEN")

    def recognition_samples(self, canaries: Any):
        out = []
        for prefix, kind in [("cfut_", "user_api_token"), ("cfat_", "account_api_token"), ("cfk_", "global_api_key")]:
            v = canaries.add(_tok(prefix))
            out.append((f"token: {v}\n", v, kind))
        return out


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeCloudflare]:
    with FakeCloudflare() as f:
        yield f


def _ctx(fake: FakeCloudflare, **kw: Any) -> ProviderContext:
    return ProviderContext(env={"BLASTWALL_CLOUDFLARE_URL": fake.url + "/client/v4"}, sleep=lambda s: None, **kw)


def _run(fake: FakeCloudflare, cand):
    p = CloudflareProvider()
    cred = p.identify(p.classify(cand), _ctx(fake))
    return cred, p.inventory([cred], _ctx(fake))


def test_full_token_can_mint_tokens_and_delete_everything(fake: FakeCloudflare) -> None:
    v = fake.add_token(_tok(), "full")
    cred, inv = _run(fake, make_candidate("cloudflare", "api_token", v))
    assert cred.root_equivalent is True and "create:api-token" in cred.capabilities
    assert any("mint" in r for r in cred.reasons)
    assert {r.type for r in inv.resources} >= {"d1-database", "r2-bucket", "kv-namespace"}
    assert all(f.verdict is True for f in inv.facts)
    d1 = [b for b in inv.backups]
    assert d1 and all(b.dies_with_resource is True for b in d1)
    assert fake.writes == []


def test_scoped_token_limited_to_one_account(fake: FakeCloudflare) -> None:
    v = fake.add_token(_tok(), "scoped")
    cred, inv = _run(fake, make_candidate("cloudflare", "api_token", v))
    assert cred.root_equivalent is False and cred.capabilities == ("delete:worker",)
    assert inv.facts and all(f.verdict is False for f in inv.facts)  # D1 Read only: no D1/R2/KV deletion


def test_account_token_policies_unreadable_is_unknown(fake: FakeCloudflare) -> None:
    v = fake.add_token(_tok("cfat_"), "account")
    cred, inv = _run(fake, make_candidate("cloudflare", "account_api_token", v))
    assert cred.kind == "account_api_token" and cred.status == Status.verified
    assert cred.metadata["account_id"] == ACCT_A
    assert cred.root_equivalent is None and cred.possible_capabilities
    assert {f.verdict for f in inv.facts} == {None}
    assert any(p.startswith("/client/v4/accounts/") and p.endswith("/tokens/verify") for _, p in fake.log)


def test_global_api_key_with_email_companion(fake: FakeCloudflare) -> None:
    v = fake.add_token(_tok("cfk_"), "global")
    cand = make_candidate(
        "cloudflare", "global_api_key", v, locator="CLOUDFLARE_API_KEY", companions={"email": "owner@acme-corp.io"}
    )
    cred, inv = _run(fake, cand)
    assert cred.status == Status.verified and cred.principal == "owner@acme-corp.io"
    assert cred.root_equivalent is True
    assert ACCT_B in {r.id.split(":")[-1] for r in inv.resources if r.type == "account"}


def test_global_api_key_without_email_is_root_but_unverified(fake: FakeCloudflare) -> None:
    fake.log.clear()
    v = fake.add_token(_tok("cfk_"), "global")
    cred, _ = _run(fake, make_candidate("cloudflare", "global_api_key", v))
    assert cred.status == Status.unverified and cred.root_equivalent is True
    assert fake.log == []


def test_recognisers_bind_legacy_tokens_to_variable_names() -> None:
    recs = CloudflareProvider().recognisers()
    legacy = secrets.token_urlsafe(30)[:40]
    assert recognise_key(recs, "CLOUDFLARE_API_TOKEN", legacy) == "api_token"
    assert recognise_key(recs, "SOME_OTHER_VAR", legacy) is None
    assert recognise_key(recs, "CLOUDFLARE_API_KEY", secrets.token_hex(19)[:37]) == "global_api_key"
    glob = [r for r in recs if "CLOUDFLARE_API_KEY" in r.key_names][0]
    assert "CLOUDFLARE_EMAIL" in glob.companions["email"]
    for path in (".wrangler/config/default.toml", ".config/.wrangler/config/default.toml"):
        rec = recognise_file(recs, path, "oauth_token")
        assert rec is not None and rec.kind == "oauth_token"


def test_global_api_key_with_wrong_email_is_invalid(fake: FakeCloudflare) -> None:
    v = fake.add_token(_tok("cfk_"), "global")
    cand = make_candidate("cloudflare", "global_api_key", v, companions={"email": "someone@else.io"})
    cred, inv = _run(fake, cand)
    assert cred.status == Status.invalid and not inv.resources
