"""Supabase provider against its fake Management API, through the shared contract suite, plus specifics."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from auditor.engine import analyse
from auditor.errors import BlastwallError
from auditor.model import Status
from providers.supabase import SupabaseProvider
from tests.providers.contract import ProviderContract, make_candidate, recognise_file, recognise_key, run_all
from tests.support.fakes.supabase import FakeSupabase


def jwt(claims: dict[str, Any], sig: str) -> str:
    def enc(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")

    return f"{enc({'alg': 'HS256', 'typ': 'JWT'})}.{enc(claims)}.{sig}"


def _discover_home(tmp_path: Any, provider: Any, files: dict[str, str]) -> list[Any]:
    """Real discovery (auditor.discovery) over a home holding ``files``; the provider's recognisers only."""
    from auditor.discovery import DiscoveryOptions, discover

    home = tmp_path / "home"
    for rel, text in files.items():
        p = home / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return discover(list(provider.recognisers()), DiscoveryOptions(home=home)).candidates


class TestSupabaseContract(ProviderContract):
    provider_cls = SupabaseProvider
    url_env = "BLASTWALL_SUPABASE_URL"
    prose_decoys = (
        "Supabase personal access tokens start with sbp_ followed by 40 hex characters.",
        "sbp_0123 is too short to be a token",
        "the sb_secret_ prefix marks new secret keys",
        "sbp_ghijklmnopqrstuvwxyzghijklmnopqrstuvwxyzab is not hex",
    )

    @classmethod
    def make_fake(cls) -> FakeSupabase:
        return FakeSupabase().start()

    def candidate(self, fake: Any, canaries: Any, profile: str) -> Any:
        value = canaries.add("sbp_a" + canaries.mint("{r}")[:39])
        if profile != "invalid":
            fake.add_token(value, profile)
        return make_candidate("supabase", "personal_access_token", value, locator="SUPABASE_ACCESS_TOKEN")

    def recognition_samples(self, canaries: Any) -> list[tuple[str, str, str]]:
        a = canaries.add("sbp_b" + canaries.mint("{r}")[:39])
        b = canaries.add("sbp_oauth_c" + canaries.mint("{r}")[:39])
        s = canaries.mint("sb_secret_{r}")
        return [
            (f"SUPABASE_ACCESS_TOKEN={a}", a, "personal_access_token"),
            (f'"args": ["--access-token", "{b}"]', b, "personal_access_token"),
            (f"key = '{s}'", s, "secret_key"),
        ]

    def test_key_names_and_cli_file(self, provider: SupabaseProvider, canaries: Any) -> None:
        recs = list(provider.recognisers())
        sr = jwt({"iss": "supabase", "ref": "prodrefabcdefghijklm", "role": "service_role"}, canaries.mint("{r}"))
        assert recognise_key(recs, "SUPABASE_SERVICE_ROLE_KEY", sr) == "service_role_key"
        assert recognise_key(recs, "SUPABASE_SERVICE_ROLE_KEY", "hello-world-not-a-jwt") is None
        r = recognise_file(recs, ".supabase/access-token", "line 1")
        assert r is not None and r.category == "cli_config"

    def test_service_role_key_offline(self, provider: SupabaseProvider, fake: FakeSupabase, canaries: Any) -> None:
        sr = jwt({"iss": "supabase", "ref": "prodrefabcdefghijklm", "role": "service_role"}, canaries.mint("{r}"))
        c = provider.identify(
            provider.classify(make_candidate("supabase", "service_role_key", sr, locator="SUPABASE_SERVICE_ROLE_KEY")),
            self.ctx(fake),
        )
        assert c.root_equivalent is False and "bypass:rls" in c.capabilities and fake.log == []
        assert c.principal == "project prodrefabcdefghijklm"
        anon = jwt({"iss": "supabase", "ref": "prodrefabcdefghijklm", "role": "anon"}, canaries.mint("{r}"))
        a = provider.classify(make_candidate("supabase", "service_role_key", anon))
        assert a.kind == "anon_key" and a.root_equivalent is False

    def test_full_token_backups_die_with_project(
        self, provider: SupabaseProvider, fake: FakeSupabase, canaries: Any
    ) -> None:
        full = self.candidate(fake, canaries, "full")
        sr = jwt({"iss": "supabase", "ref": "prodrefabcdefghijklm", "role": "service_role"}, canaries.mint("{r}"))
        creds, inv = run_all(provider, [full, make_candidate("supabase", "service_role_key", sr)], self.ctx(fake))
        c = creds[0]
        assert c.root_equivalent is True and c.metadata["token_type"] == "classic"
        assert len([r for r in inv.resources if r.type == "project"]) == 3
        assert {b.id for b in inv.backups} == {
            "supabase:backup:prodrefabcdefghijklm:daily",
            "supabase:pitr:prodrefabcdefghijklm",
            "supabase:backup:stagrefabcdefghijklm:daily",
        }
        assert all(b.dies_with_resource is True for b in inv.backups)
        assert any(f.rule == "supabase-no-platform-backups" for f in inv.findings)
        assert any(f.rule == "supabase-service-role-key" for f in inv.findings)
        br = analyse(creds, inv.resources, inv.backups, inv.facts)
        exp = {e.credential: e for e in br.exposure}[c.id]
        assert set(exp.unrecoverable) == {
            f"supabase:project:{r}" for r in ("prodrefabcdefghijklm", "stagrefabcdefghijklm", "hobbyrefabcdefghijkl")
        }
        assert all(b.same_blast_radius is True for b in br.backups)
        assert fake.writes == []

    def test_scoped_token_reasons_and_facts(
        self, provider: SupabaseProvider, fake: FakeSupabase, canaries: Any
    ) -> None:
        creds, inv = run_all(
            provider, [self.candidate(fake, canaries, "full"), self.candidate(fake, canaries, "scoped")], self.ctx(fake)
        )
        s = creds[1]
        assert s.root_equivalent is False and s.metadata["missing_permissions"] == ["backups_read"]
        assert any("backups_read" in r for r in s.reasons)
        facts = {(f.credential, f.target): f.verdict for f in inv.facts}
        assert facts[(s.id, "supabase:project:prodrefabcdefghijklm")] is None
        assert facts[(s.id, "supabase:project:hobbyrefabcdefghijkl")] is False
        assert any("backups not inspected" in g.reason for g in inv.gaps)

    def test_oauth_token_is_unknown(self, provider: SupabaseProvider, fake: FakeSupabase, canaries: Any) -> None:
        v = canaries.add("sbp_oauth_" + canaries.mint("{r}")[:40])
        fake.add_token(v, "full")
        c = provider.identify(provider.classify(make_candidate("supabase", "personal_access_token", v)), self.ctx(fake))
        assert c.kind == "oauth_token" and c.status == Status.verified and c.root_equivalent is None

    def test_discovery_finds_cli_token_file(self, provider: SupabaseProvider, canaries: Any, tmp_path: Any) -> None:
        v = canaries.add("sbp_e" + canaries.mint("{r}")[:39])
        cands = _discover_home(tmp_path, provider, {".supabase/access-token": v + "\n"})
        assert len(cands) == 1 and cands[0].secret.reveal() == v and cands[0].kind == "personal_access_token"
        assert cands[0].sources[0].category == "cli_config" and cands[0].sources[0].locator == "line 1"

    def test_refuses_plain_http_to_remote_hosts(self, provider: SupabaseProvider, fake: Any, canaries: Any) -> None:
        cand = self.candidate(fake, canaries, "full")
        with pytest.raises(BlastwallError, match="refusing to send credentials"):
            provider.identify(provider.classify(cand), self.ctx(url="http://api.example.test"))
        assert fake.log == []
