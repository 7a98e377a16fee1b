"""GitHub provider: the shared contract plus GitHub-specific behaviour."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from auditor.model import Status
from auditor.provider import ProviderContext
from providers.github import GitHubProvider
from tests.providers.contract import ProviderContract, make_candidate, recognise_file, recognise_key, recognise_text
from tests.support.fakes.github import FakeGitHub


def _tok(prefix: str = "ghp_", n: int = 36) -> str:
    return prefix + secrets.token_hex(n)[:n]


class TestGitHubContract(ProviderContract):
    provider_cls = GitHubProvider
    url_env = "BLASTWALL_GITHUB_URL"
    prose_decoys = [
        "Classic tokens start with ghp_ and fine-grained ones with github_pat_.",
        "set GITHUB_TOKEN to your token, e.g. ghp_<token>",
        "the ghs_ prefix is used for installation tokens; see gho_ and ghu_ too",
        "commit 3f2a9d1c0b8e7f6a5d4c3b2a1f0e9d8c7b6a5f4e is the fix",
    ]

    @classmethod
    def make_fake(cls) -> FakeGitHub:
        return FakeGitHub().start()

    def candidate(self, fake: FakeGitHub, canaries: Any, profile: str):
        value = canaries.add(_tok())
        if profile != "invalid":
            fake.add_token(value, profile)
        return make_candidate("github", "classic_pat", value, locator="GITHUB_TOKEN")

    def recognition_samples(self, canaries: Any):
        out = []
        for prefix, kind in [
            ("ghp_", "classic_pat"),
            ("gho_", "oauth_token"),
            ("ghu_", "user_to_server_token"),
            ("ghs_", "installation_token"),
            ("ghr_", "refresh_token"),
        ]:
            v = canaries.add(_tok(prefix))
            out.append((f"export TOKEN={v}\n", v, kind))
        fg = canaries.add("github_pat_" + secrets.token_hex(11) + "_" + secrets.token_hex(30)[:59])
        out.append((f'"Authorization": "Bearer {fg}"', fg, "fine_grained_pat"))
        return out


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as f:
        yield f


def _ctx(fake: FakeGitHub, **kw: Any) -> ProviderContext:
    return ProviderContext(env={"BLASTWALL_GITHUB_URL": fake.url}, sleep=lambda s: None, **kw)


def test_full_classic_token_reasons_and_inventory(fake: FakeGitHub, canaries: Any) -> None:
    p = GitHubProvider()
    fake.log.clear()
    v = fake.add_token(canaries.add(_tok()), "full")
    cred = p.identify(p.classify(make_candidate("github", "token", v)), _ctx(fake))
    assert cred.kind == "classic_pat" and cred.principal == "octo"
    assert cred.root_equivalent is True
    assert "delete:repo" in cred.capabilities and "write:contents" in cred.capabilities
    assert any("delete_repo" in r for r in cred.reasons)
    inv = p.inventory([cred], _ctx(fake))
    verdicts = {f.target: f.verdict for f in inv.facts}
    assert verdicts["github:repo:octo/repo-0"] is True
    assert verdicts["github:repo:octo/repo-2"] is False  # not an admin there
    assert verdicts["github:org:octo-org"] is True and verdicts["github:org:other-org"] is False
    assert inv.findings and not inv.gaps
    assert fake.writes == []
    canaries.assert_absent(texts=[cred.model_dump_json(), inv.model_dump_json()])


def test_scoped_token_cannot_delete(fake: FakeGitHub, canaries: Any) -> None:
    p = GitHubProvider()
    fake.log.clear()
    v = fake.add_token(canaries.add(_tok()), "scoped")
    cred = p.identify(p.classify(make_candidate("github", "classic_pat", v)), _ctx(fake))
    assert cred.root_equivalent is False
    assert "delete:repo" not in cred.capabilities
    assert any("cannot delete repositories" in r for r in cred.reasons)
    inv = p.inventory([cred], _ctx(fake))
    assert all(f.verdict is False for f in inv.facts)


def test_fine_grained_token_is_unknown_not_safe(fake: FakeGitHub, canaries: Any) -> None:
    p = GitHubProvider()
    fake.log.clear()
    v = fake.add_token(canaries.add("github_pat_" + secrets.token_hex(41)), "fine_grained")
    cred = p.identify(p.classify(make_candidate("github", "token", v)), _ctx(fake))
    assert cred.kind == "fine_grained_pat" and cred.status == Status.verified
    assert cred.root_equivalent is None and "delete:repo" in cred.possible_capabilities
    assert cred.metadata.get("expires_at")
    inv = p.inventory([cred], _ctx(fake))
    assert {f.verdict for f in inv.facts if f.target.endswith("repo-0")} == {None}


def test_rate_limit_exhausted_403_is_an_error_not_forbidden(canaries: Any) -> None:
    p = GitHubProvider()
    with FakeGitHub() as limited:
        v = limited.add_token(canaries.add(_tok()), "full")
        limited.route("GET", r"/user")(
            lambda r: (403, {"message": "API rate limit exceeded"}, {"X-RateLimit-Remaining": "0"})
        )
        limited.routes.insert(0, limited.routes.pop())
        cred = p.identify(p.classify(make_candidate("github", "token", v)), _ctx(limited))
        assert cred.status == Status.error and cred.root_equivalent is None


def test_cli_and_env_recognisers() -> None:
    recs = GitHubProvider().recognisers()
    tok = _tok("gho_")
    assert recognise_file(recs, ".config/gh/hosts.yml", '["github.com"].oauth_token') is not None
    assert recognise_file(recs, ".config/gh/hosts.yml", '["github.com"].users.octo.oauth_token') is not None
    assert recognise_file(recs, ".config/gh/hosts.yml", '["github.com"].user') is None
    assert recognise_key(recs, "GH_TOKEN", tok) == "token"
    assert recognise_key(recs, "mcpServers.github.env.GITHUB_PERSONAL_ACCESS_TOKEN", tok) == "token"
    assert recognise_key(recs, "GITHUB_TOKEN", "not a token") is None
    assert recognise_text(recs, f"{_tok('ghp_', 20)}") == []  # too short


def test_plain_http_endpoint_refused_outside_loopback(canaries: Any) -> None:
    p = GitHubProvider()
    cand = make_candidate("github", "token", canaries.add(_tok()))
    ctx = ProviderContext(env={"BLASTWALL_GITHUB_URL": "http://api.example.com"}, sleep=lambda s: None)
    cred = p.identify(p.classify(cand), ctx)
    assert cred.status == Status.error and any("refusing" in r for r in cred.reasons)
