"""Stripe provider: the shared contract plus offline classification and the write-probe safety rules."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from auditor.model import Status
from auditor.provider import ProviderContext
from providers.stripe import StripeProvider
from tests.providers.contract import ProviderContract, make_candidate, recognise_file, recognise_key
from tests.support.fakes.stripe import FakeStripe


def _key(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(72).replace("-", "a").replace("_", "b")[:99]


class TestStripeContract(ProviderContract):
    provider_cls = StripeProvider
    url_env = "BLASTWALL_STRIPE_URL"
    prose_decoys = [
        "Secret keys start with sk_live_ or sk_test_; restricted keys with rk_live_.",
        "use a restricted key (rk_live_...) instead of sk_live_xxx",
        "publishable keys like pk_live_51Habcdefghijklmnopqrstuvwxyz are not secret",
        "the task_live_update job and desk_test_runner",
    ]

    @classmethod
    def make_fake(cls) -> FakeStripe:
        return FakeStripe().start()

    def candidate(self, fake: FakeStripe, canaries: Any, profile: str):
        prefix = {"full": "sk_live_", "scoped": "sk_test_", "invalid": "sk_live_", "forbidden": "rk_live_"}[profile]
        value = canaries.add(_key(prefix))
        if profile != "invalid":
            fake.add_token(value, profile)
        return make_candidate("stripe", "key", value, locator="STRIPE_SECRET_KEY")

    def recognition_samples(self, canaries: Any):
        out = []
        for prefix, kind in [
            ("sk_live_", "secret_key_live"),
            ("sk_test_", "secret_key_test"),
            ("rk_live_", "restricted_key_live"),
            ("rk_test_", "restricted_key_test"),
        ]:
            v = canaries.add(_key(prefix))
            out.append((f"stripe.api_key = '{v}'", v, kind))
        return out


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeStripe]:
    with FakeStripe() as f:
        yield f


def _ctx(fake: FakeStripe, **kw: Any) -> ProviderContext:
    return ProviderContext(env={"BLASTWALL_STRIPE_URL": fake.url}, sleep=lambda s: None, **kw)


def _ident(fake: FakeStripe, prefix: str, profile: str, **kw: Any):
    p = StripeProvider()
    v = fake.add_token(_key(prefix), profile)
    return p.identify(p.classify(make_candidate("stripe", "key", v)), _ctx(fake, **kw))


def test_offline_classification_by_prefix() -> None:
    p = StripeProvider()
    live = p.classify(make_candidate("stripe", "key", _key("sk_live_")))
    assert live.kind == "secret_key_live" and live.root_equivalent is True and "delete:customer" in live.capabilities
    test = p.classify(make_candidate("stripe", "key", _key("sk_test_")))
    assert test.root_equivalent is False and any("test mode only" in r for r in test.reasons)
    rk = p.classify(make_candidate("stripe", "key", _key("rk_live_")))
    assert rk.root_equivalent is None and rk.possible_capabilities
    assert live.status == Status.unverified


def test_live_secret_key_inventory_and_finding(fake: FakeStripe) -> None:
    cred = _ident(fake, "sk_live_", "full")
    assert cred.status == Status.verified and cred.root_equivalent is True
    assert cred.metadata["account_id"] == "acct_1Fake0000000000"
    inv = StripeProvider().inventory([cred], _ctx(fake))
    assert [f.verdict for f in inv.facts] == [True]
    assert inv.resources[0].holds_data and inv.findings[0].severity == "critical"


def test_restricted_key_without_probe_is_unknown_and_sends_no_writes(fake: FakeStripe) -> None:
    fake.log.clear()
    cred = _ident(fake, "rk_live_", "restricted_full")
    assert cred.root_equivalent is None and any("--probe-writes" in r for r in cred.reasons)
    assert "customers" in cred.metadata["readable"]
    inv = StripeProvider().inventory([cred], _ctx(fake))
    assert inv.gaps and [f.verdict for f in inv.facts] == [None]
    assert fake.writes == []


def test_probe_writes_full_restricted_key_is_root_equivalent(fake: FakeStripe) -> None:
    fake.log.clear()
    cred = _ident(fake, "rk_live_", "restricted_full", probe_writes=True)
    assert cred.root_equivalent is True and set(cred.capabilities) >= {"delete:customer", "create:refund"}
    # only deliberately invalid writes: IDs that cannot exist, no bodies
    assert fake.writes and all("blastwallprobe" in path for _, path in fake.writes)


def test_probe_writes_read_only_restricted_key_is_not(fake: FakeStripe) -> None:
    cred = _ident(fake, "rk_live_", "restricted_read", probe_writes=True)
    assert cred.status == Status.verified and cred.root_equivalent is False and cred.capabilities == ()
    assert any("lacks" in r for r in cred.reasons)


def test_probe_write_that_succeeds_aborts(fake: FakeStripe) -> None:
    fake.log.clear()
    cred = _ident(fake, "rk_live_", "reckless", probe_writes=True)
    assert cred.status == Status.error and cred.root_equivalent is None
    assert any("aborted" in r for r in cred.reasons)
    assert len(fake.writes) == 1  # stopped at the first unexpected success


def test_cli_recognisers() -> None:
    recs = StripeProvider().recognisers()
    assert recognise_file(recs, ".config/stripe/config.toml", "default.test_mode_api_key") is not None
    assert recognise_file(recs, ".config/stripe/config.toml", "work.live_mode_api_key") is not None
    assert recognise_file(recs, ".config/stripe/config.toml", "default.test_mode_pub_key") is None
    assert recognise_key(recs, "STRIPE_SECRET_KEY", _key("sk_live_")) == "key"
    assert recognise_key(recs, "STRIPE_SECRET_KEY", "sk_live_****1234") is None  # redacted
