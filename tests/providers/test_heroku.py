"""Heroku provider against its fake API, through the shared contract suite, plus Heroku specifics."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import pytest

from auditor.engine import analyse
from auditor.errors import BlastwallError
from auditor.model import SourceCategory, Status
from providers.heroku import HerokuProvider
from tests.providers.contract import ProviderContract, make_candidate, recognise_file, recognise_key, run_all
from tests.support.fakes.heroku import OTHER_TOKEN, FakeHeroku


def _discover_home(tmp_path: Any, provider: Any, files: dict[str, str]) -> list[Any]:
    """Real discovery (auditor.discovery) over a home holding ``files``; the provider's recognisers only."""
    from auditor.discovery import DiscoveryOptions, discover

    home = tmp_path / "home"
    for rel, text in files.items():
        p = home / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return discover(list(provider.recognisers()), DiscoveryOptions(home=home)).candidates


class TestHerokuContract(ProviderContract):
    provider_cls = HerokuProvider
    url_env = "BLASTWALL_HEROKU_URL"
    prose_decoys = (
        "Heroku tokens now start with HRKU- followed by a long suffix.",
        "request id 3f2504e0-4f89-11d3-9a0c-0305e82c3301 failed on heroku",  # a UUID alone is not a token
        "HRKU-AA is the prefix; HRKU-AAshort is too short",
    )

    @classmethod
    def make_fake(cls) -> FakeHeroku:
        return FakeHeroku().start()

    def candidate(self, fake: Any, canaries: Any, profile: str) -> Any:
        value = canaries.add("HRKU-AA" + secrets.token_hex(29))
        if profile != "invalid":
            fake.add_token(value, profile)
        return make_candidate("heroku", "api_token", value, locator="HEROKU_API_KEY")

    def recognition_samples(self, canaries: Any) -> list[tuple[str, str, str]]:
        a = canaries.add("HRKU-AA" + secrets.token_hex(29))
        b = canaries.add("HRKU-" + str(uuid.uuid4()))
        return [(f"export HEROKU_API_KEY={a}", a, "api_token"), (f"token: {b}\n", b, "api_token")]

    def test_key_names_and_cli_files(self, provider: HerokuProvider) -> None:
        recs = list(provider.recognisers())
        legacy = str(uuid.uuid4())
        assert recognise_key(recs, "HEROKU_API_KEY", legacy) == "api_token"
        assert recognise_key(recs, "SOME_ID", legacy) is None
        for path, loc in (
            (".netrc", "machine api.heroku.com.password"),
            (".netrc", "machine git.heroku.com.password"),
            (".config/heroku/accounts/work", "password"),
            (".heroku/accounts/old", ":password"),
        ):
            r = recognise_file(recs, path, loc)
            assert r is not None and r.category == "cli_config", (path, loc)
        assert recognise_file(recs, ".netrc", "machine github.com.password") is None

    def test_cli_login_is_root_offline(self, provider: HerokuProvider) -> None:
        c = provider.classify(
            make_candidate(
                "heroku",
                "api_token",
                str(uuid.uuid4()),
                path="/h/.netrc",
                locator="machine api.heroku.com.password",
                hints={"login": "ada@example.test"},
                category=SourceCategory.cli_config,
            )
        )
        assert c.root_equivalent is True and c.principal == "ada@example.test" and c.status == Status.unverified

    def test_full_token_scope_backups_and_facts(
        self, provider: HerokuProvider, fake: FakeHeroku, canaries: Any
    ) -> None:
        creds, inv = run_all(provider, [self.candidate(fake, canaries, "full")], self.ctx(fake))
        c = creds[0]
        assert c.root_equivalent is True and c.metadata["scope"] == ["global"] and c.principal == "ada@example.test"
        assert OTHER_TOKEN not in c.model_dump_json() + inv.model_dump_json() + repr(c)
        types = {r.type for r in inv.resources}
        assert types == {"app", "postgres", "key_value"}  # papertrail holds no data
        assert len([r for r in inv.resources if r.type == "app"]) == 2  # both Range pages
        logical = [b for b in inv.backups if b.kind == "logical"]
        assert len(logical) == 2 and all(b.metadata["downloadable"] for b in logical)  # failed/restores skipped
        assert all(b.dies_with_resource is None for b in inv.backups)
        assert {b.kind for b in inv.backups} == {"logical", "pitr"}  # standard-0 has Continuous Protection
        br = analyse(creds, inv.resources, inv.backups, inv.facts)
        judged = {b.id: b for b in br.backups}
        assert all(judged[b.id].same_blast_radius is True for b in logical)  # one token deletes DB and backups
        assert any(f.rule == "heroku-backups-same-account" for f in inv.findings)
        assert fake.writes == []

    def test_scoped_token(self, provider: HerokuProvider, fake: FakeHeroku, canaries: Any) -> None:
        creds, inv = run_all(provider, [self.candidate(fake, canaries, "scoped")], self.ctx(fake))
        c = creds[0]
        assert c.root_equivalent is False and "read:app" in c.capabilities
        assert "read:config_vars" not in c.capabilities and "delete:app" in c.possible_capabilities
        assert inv.resources and all(f.verdict is None for f in inv.facts)

    def test_identity_only_token(self, provider: HerokuProvider, fake: FakeHeroku, canaries: Any) -> None:
        creds, inv = run_all(provider, [self.candidate(fake, canaries, "identity")], self.ctx(fake))
        assert creds[0].root_equivalent is False and creds[0].principal == "ada@example.test"
        assert inv.gaps and not inv.resources

    def test_discovery_finds_netrc_and_accounts(self, provider: HerokuProvider, canaries: Any, tmp_path: Any) -> None:
        legacy = canaries.add(str(uuid.uuid4()))
        v2 = canaries.add("HRKU-AA" + secrets.token_hex(29))
        netrc = (
            f"machine api.heroku.com\n  login ada@example.test\n  password {legacy}\n"
            f"machine git.heroku.com\n  login ada@example.test\n  password {legacy}\n"
            "machine github.com\n  login ada\n  password not-heroku-0000-1111\n"
        )
        cands = _discover_home(
            tmp_path,
            provider,
            {".netrc": netrc, ".config/heroku/accounts/work": f"username: ops@example.test\npassword: {v2}\n"},
        )
        by = {c.secret.reveal(): c for c in cands}
        assert set(by) == {legacy, v2}
        assert {s.locator for s in by[legacy].sources} == {
            "machine api.heroku.com.password",
            "machine git.heroku.com.password",
        }
        assert by[legacy].hints.get("login") == "ada@example.test"
        assert all(s.category == "cli_config" for c in cands for s in c.sources)
        assert provider.classify(by[legacy]).root_equivalent is True

    def test_refuses_plain_http_to_remote_hosts(self, provider: HerokuProvider, fake: Any, canaries: Any) -> None:
        cand = self.candidate(fake, canaries, "full")
        with pytest.raises(BlastwallError, match="refusing to send credentials"):
            provider.identify(provider.classify(cand), self.ctx(url="http://api.example.test"))
        assert fake.log == []
