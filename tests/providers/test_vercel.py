"""Vercel provider against its fake API, through the shared contract suite, plus the Supabase cascade."""

from __future__ import annotations

from typing import Any

import pytest

from auditor.engine import analyse
from auditor.errors import BlastwallError
from auditor.model import Status
from providers.supabase import SupabaseProvider
from providers.vercel import VercelProvider
from tests.providers.contract import ProviderContract, make_candidate, recognise_file, recognise_key, run_all
from tests.support.fakes.supabase import FakeSupabase
from tests.support.fakes.vercel import FakeVercel


def _discover_home(tmp_path: Any, provider: Any, files: dict[str, str]) -> list[Any]:
    """Real discovery (auditor.discovery) over a home holding ``files``; the provider's recognisers only."""
    from auditor.discovery import DiscoveryOptions, discover

    home = tmp_path / "home"
    for rel, text in files.items():
        p = home / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return discover(list(provider.recognisers()), DiscoveryOptions(home=home)).candidates


class TestVercelContract(ProviderContract):
    provider_cls = VercelProvider
    url_env = "BLASTWALL_VERCEL_URL"
    prose_decoys = (
        "Vercel tokens now carry prefixes such as vcp_ for personal access tokens.",
        "Set VERCEL_TOKEN in CI; vck_ marks API keys and vci_ integration tokens.",
        "vcp_short is not a token",
        "the vercel_blob_rw_ prefix marks Blob tokens",
    )

    @classmethod
    def make_fake(cls) -> FakeVercel:
        return FakeVercel().start()

    def candidate(self, fake: Any, canaries: Any, profile: str) -> Any:
        value = canaries.mint("vcp_{r}")
        if profile != "invalid":
            fake.add_token(value, profile)
        return make_candidate("vercel", "access_token", value, locator="VERCEL_TOKEN")

    def recognition_samples(self, canaries: Any) -> list[tuple[str, str, str]]:
        a, k = canaries.mint("vcp_{r}"), canaries.mint("vck_{r}")
        b = canaries.mint("vercel_blob_rw_abcdEFGH1234wxyz_{r}")
        return [
            (f"VERCEL_TOKEN={a}", a, "access_token"),
            (f"key: {k}", k, "api_key"),
            (f"BLOB_READ_WRITE_TOKEN={b}", b, "blob_rw_token"),
        ]

    def test_key_names_and_cli_files(self, provider: VercelProvider, canaries: Any) -> None:
        recs = list(provider.recognisers())
        legacy = canaries.mint("{r}")[:24]
        assert recognise_key(recs, "VERCEL_TOKEN", legacy) == "access_token"
        assert recognise_key(recs, "OTHER", legacy) is None
        for path, loc in (
            (".local/share/com.vercel.cli/auth.json", "token"),
            ("Library/Application Support/com.vercel.cli/auth.json", "token"),
            (".now/auth.json", "token"),
            (".now/auth.json", "credentials[0].token"),
        ):
            r = recognise_file(recs, path, loc)
            assert r is not None and r.category == "cli_config", (path, loc)

    def test_full_token_inventory(self, provider: VercelProvider, fake: FakeVercel, canaries: Any) -> None:
        creds, inv = run_all(provider, [self.candidate(fake, canaries, "full")], self.ctx(fake))
        c = creds[0]
        assert c.root_equivalent is True and c.principal == "ada@example.test"
        assert c.metadata["expires_at"].startswith("2027-")
        projects = {r.id for r in inv.resources if r.type == "project"}
        assert projects == {
            "vercel:project:prj_blog",
            "vercel:project:prj_web",
            "vercel:project:prj_api",
            "vercel:project:prj_x",
        }  # prj_api is on page two
        facts = {(f.credential, f.target): f.verdict for f in inv.facts}
        assert facts[(c.id, "supabase:project:prodrefabcdefghijklm")] is True
        assert facts[(c.id, "neon:project:cool-snow-123456")] is None
        assert facts[(c.id, "vercel:project:prj_x")] is False  # viewer in team Side
        rules = [f.rule for f in inv.findings]
        assert rules.count("vercel-supabase-integration-cascade") == 1
        assert rules.count("vercel-env-vars-readable") == 1  # one per credential, not per team
        assert len({f.id for f in inv.findings}) == len(inv.findings)
        env = next(f for f in inv.findings if f.rule == "vercel-env-vars-readable")
        assert "acme (2)" in env.message and "side" not in env.message  # a viewer cannot read env values
        assert fake.writes == []

    def test_team_and_project_tokens(self, provider: VercelProvider, fake: FakeVercel, canaries: Any) -> None:
        team = provider.identify(provider.classify(self.candidate(fake, canaries, "scoped")), self.ctx(fake))
        assert team.root_equivalent is False and "remove:integration" in team.capabilities  # owner inside Acme
        proj = provider.identify(provider.classify(self.candidate(fake, canaries, "project")), self.ctx(fake))
        assert proj.root_equivalent is False and proj.metadata["projects"] == ["prj_web"]
        assert "remove:integration" not in proj.capabilities + proj.possible_capabilities

    def test_401_also_invalid(self, provider: VercelProvider, canaries: Any) -> None:
        from tests.support.fakehttp import FakeHTTPServer

        srv = FakeHTTPServer()
        srv.route("GET", "/v5/user/tokens/current")(lambda r: (401, {"error": {"code": "unauthorized"}}))
        with srv:
            c = provider.identify(
                provider.classify(make_candidate("vercel", "access_token", canaries.mint("vcp_{r}"))), self.ctx(srv)
            )
        assert c.status == Status.invalid

    def test_blob_token_offline(self, provider: VercelProvider, canaries: Any) -> None:
        v = canaries.mint("vercel_blob_rw_abcdEFGH1234wxyz_{r}")
        c = provider.classify(make_candidate("vercel", "blob_rw_token", v))
        assert c.root_equivalent is False and c.principal == "blob store abcdEFGH1234wxyz"

    def test_supabase_cascade_end_to_end(self, provider: VercelProvider, fake: FakeVercel, canaries: Any) -> None:
        """A Vercel token that can remove the Supabase integration destroys the project and its backups."""
        vc = self.candidate(fake, canaries, "full")
        sb_value = canaries.add("sbp_d" + canaries.mint("{r}")[:39])
        with FakeSupabase() as sfake:
            sfake.add_token(sb_value, "full")
            sb = SupabaseProvider()
            sctx = self.ctx(url=sfake.url, env={"BLASTWALL_SUPABASE_URL": sfake.url})
            screds, sinv = run_all(sb, [make_candidate("supabase", "personal_access_token", sb_value)], sctx)
        vcreds, vinv = run_all(provider, [vc], self.ctx(fake))
        creds = vcreds + screds
        inv = vinv.merge(sinv)
        br = analyse(creds, inv.resources, inv.backups, inv.facts)
        exp = {e.credential: e for e in br.exposure}
        assert "supabase:project:prodrefabcdefghijklm" in exp[vcreds[0].id].can_destroy
        # Supabase backups die with the project: nothing survives the Vercel token
        assert "supabase:project:prodrefabcdefghijklm" in exp[vcreds[0].id].unrecoverable
        assert "supabase:project:hobbyrefabcdefghijkl" not in exp[vcreds[0].id].can_destroy

    def test_discovery_finds_cli_logins(self, provider: VercelProvider, canaries: Any, tmp_path: Any) -> None:
        import json

        new, old = canaries.mint("vcp_{r}"), canaries.mint("{r}")[:24]
        cands = _discover_home(
            tmp_path,
            provider,
            {
                ".local/share/com.vercel.cli/auth.json": json.dumps(
                    {"// Note": "This is your Vercel credentials file. DO NOT SHARE!", "token": new}
                ),
                ".now/auth.json": json.dumps({"_": "legacy", "credentials": [{"provider": "sh", "token": old}]}),
            },
        )
        by = {c.secret.reveal(): c for c in cands}
        assert set(by) == {new, old}
        assert by[old].sources[0].locator == "credentials[0].token"
        assert all(c.sources[0].category == "cli_config" and c.kind == "access_token" for c in cands)

    def test_refuses_plain_http_to_remote_hosts(self, provider: VercelProvider, fake: Any, canaries: Any) -> None:
        cand = self.candidate(fake, canaries, "full")
        with pytest.raises(BlastwallError, match="refusing to send credentials"):
            provider.identify(provider.classify(cand), self.ctx(url="http://api.example.test"))
        assert fake.log == []
