"""Fly provider: the shared contract plus offline macaroon decoding and snapshot blast radius."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from auditor.engine import analyse
from auditor.model import Status
from auditor.provider import ProviderContext
from providers.fly import FlyProvider
from providers.fly.macaroon import MacaroonError, decode_token, scope_of
from tests.providers.contract import ProviderContract, make_candidate, recognise_file, recognise_key
from tests.support.fakes.fly import FakeFly, deploy_token, mint_macaroon, org_token


def _user_token() -> str:
    return "fo1_" + secrets.token_urlsafe(32)


class TestFlyContract(ProviderContract):
    provider_cls = FlyProvider
    url_env = "BLASTWALL_FLY_URL"
    prose_decoys = [
        "Fly tokens look like FlyV1 fm2_... and legacy ones start with fo1_.",
        "FLY_API_TOKEN=FlyV1 <token>",
        "use fm2_ or fm1a_ macaroons; see fo1_ docs",
    ]

    @classmethod
    def make_fake(cls) -> FakeFly:
        return FakeFly().start()

    def candidate(self, fake: FakeFly, canaries: Any, profile: str):
        value = {"full": org_token(), "scoped": org_token(mask=1), "invalid": org_token(), "forbidden": _user_token()}[
            profile
        ]
        canaries.add(value.removeprefix("FlyV1 "))
        if profile != "invalid":
            fake.add_token(value.removeprefix("FlyV1 "), profile)
        return make_candidate("fly", "token", value, locator="FLY_API_TOKEN")

    def recognition_samples(self, canaries: Any):
        tok = canaries.add(org_token())
        user = canaries.add(_user_token())
        return [(f"FLY_API_TOKEN='{tok}'", tok, "macaroon"), (f"token: {user}\n", user, "user_token")]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeFly]:
    with FakeFly() as f:
        yield f


def _ctx(fake: FakeFly, **kw: Any) -> ProviderContext:
    return ProviderContext(env={"BLASTWALL_FLY_URL": fake.url}, sleep=lambda s: None, **kw)


def _run(fake: FakeFly, value: str, profile: str = "ok"):
    p = FlyProvider()
    fake.add_token(value.removeprefix("FlyV1 "), profile)
    cred = p.identify(p.classify(make_candidate("fly", "token", value)), _ctx(fake))
    return cred, p.inventory([cred], _ctx(fake))


def test_macaroon_decoding_reads_caveats() -> None:
    m = decode_token(deploy_token().removeprefix("FlyV1 "))
    assert m.location == "https://api.fly.io/v1" and [c.type for c in m.caveats] == [0, 3, 4]
    s = scope_of(deploy_token())
    assert s is not None and s.orgs == {4242: 0x1F} and s.apps == {101: 0x1F}
    assert s.can("delete", 101) and not s.can("delete", 102) and not s.can("delete")
    with pytest.raises(MacaroonError):
        decode_token("fm2_!!!notbase64")


def test_org_token_is_root_equivalent_and_snapshots_share_blast_radius(fake: FakeFly) -> None:
    cred, inv = _run(fake, org_token())
    assert cred.kind == "macaroon" and cred.status == Status.verified and cred.root_equivalent is True
    assert "delete:volume" in cred.capabilities
    vols = [r for r in inv.resources if r.type == "volume"]
    assert len(vols) == 2 and all(b.dies_with_resource is False for b in inv.backups)
    result = analyse([cred], inv.resources, inv.backups, inv.facts)
    assert all(b.same_blast_radius is True for b in result.backups)
    assert set(result.exposure[0].unrecoverable) == {v.id for v in vols}
    assert fake.mutations == []


def test_deploy_token_reaches_one_app_only(fake: FakeFly) -> None:
    cred, inv = _run(fake, deploy_token("web"))
    assert cred.root_equivalent is False and any("limited to app" in r for r in cred.reasons)
    v = {f.target: f.verdict for f in inv.facts}
    assert v["fly:volume:vol_web1"] is True and v["fly:volume:vol_wk1"] is False


def test_readonly_token_offline_verdict() -> None:
    cred = FlyProvider().classify(make_candidate("fly", "token", org_token(mask=1)))
    assert cred.root_equivalent is False and any("Read-only" in r for r in cred.reasons)
    assert cred.status == Status.unverified and cred.metadata["expires_at"].startswith("2096")


def test_expired_macaroon_is_invalid_offline(fake: FakeFly) -> None:
    tok = "FlyV1 " + mint_macaroon([(0, [4242, 0x1F]), (4, [1_600_000_000, 1_600_000_100])])
    fake.log.clear()
    p = FlyProvider()
    cred = p.identify(p.classify(make_candidate("fly", "token", tok)), _ctx(fake))
    assert cred.status == Status.invalid and fake.log == []


def test_user_token_root_by_construction(fake: FakeFly) -> None:
    cred, _ = _run(fake, _user_token())
    assert cred.kind == "user_token" and cred.root_equivalent is True and cred.principal == "dev@example.com"


def test_undecodable_macaroon_is_unknown_not_safe() -> None:
    cred = FlyProvider().classify(make_candidate("fly", "token", "FlyV1 fm2_" + "A" * 60))
    assert cred.root_equivalent is None and cred.possible_capabilities


def test_cli_file_recogniser() -> None:
    recs = FlyProvider().recognisers()
    assert recognise_file(recs, ".fly/config.yml", "access_token") is not None
    assert recognise_file(recs, ".fly/config.yml", "wire_guard_state") is None
    assert recognise_key(recs, "FLY_API_TOKEN", org_token()) == "token"
    assert recognise_key(recs, "FLY_ACCESS_TOKEN", _user_token()) == "token"


def test_odd_caveat_shapes_never_crash() -> None:
    for cavs in ([(0, ["not-an-int", 1])], [(3, ["notamap"])], [(13, [[1], 0])], [(4, [None, None])]):
        tok = "FlyV1 " + mint_macaroon(cavs)
        cred = FlyProvider().classify(make_candidate("fly", "token", tok))
        assert cred.root_equivalent is None, cavs
