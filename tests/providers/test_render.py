"""Render provider against its fake API, through the shared contract suite, plus Render specifics."""

from __future__ import annotations

from typing import Any

import pytest

from auditor.engine import analyse
from auditor.errors import BlastwallError
from auditor.model import Status
from providers.render import RenderProvider
from tests.providers.contract import ProviderContract, make_candidate, recognise_file, recognise_key, run_all
from tests.support.fakes.render import FakeRender


def _discover_home(tmp_path: Any, provider: Any, files: dict[str, str]) -> list[Any]:
    """Real discovery (auditor.discovery) over a home holding ``files``; the provider's recognisers only."""
    from auditor.discovery import DiscoveryOptions, discover

    home = tmp_path / "home"
    for rel, text in files.items():
        p = home / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return discover(list(provider.recognisers()), DiscoveryOptions(home=home)).candidates


class TestRenderContract(ProviderContract):
    provider_cls = RenderProvider
    url_env = "BLASTWALL_RENDER_URL"
    prose_decoys = (
        "Render keys start with rnd_ and are secret.",
        "the rnd_generator_state_for_tests variable",
        "call rnd_seed(42) before rnd_shuffle_everything_in_the_list_now()",
        "rnd_abcdefghijklmnopqrstuvwxyzabcdefghij is all letters, not a key",
    )

    @classmethod
    def make_fake(cls) -> FakeRender:
        return FakeRender().start()

    def candidate(self, fake: Any, canaries: Any, profile: str) -> Any:
        value = canaries.mint("rnd_{r}")
        if profile != "invalid":
            fake.add_token(value, profile)
        return make_candidate("render", "api_key", value, locator="RENDER_API_KEY")

    def recognition_samples(self, canaries: Any) -> list[tuple[str, str, str]]:
        a, b = canaries.mint("rnd_{r}"), canaries.mint("rnd_{r}")
        return [(f"RENDER_API_KEY={a}", a, "api_key"), (f'headers: {{"Authorization": "Bearer {b}"}}', b, "api_key")]

    # -- Render specifics --------------------------------------------------------------------------------
    def test_key_names_and_cli_file(self, provider: RenderProvider, canaries: Any) -> None:
        recs = list(provider.recognisers())
        v = canaries.mint("rnd_{r}")
        assert recognise_key(recs, "mcpServers.render.env.RENDER_API_KEY", v) == "api_key"
        assert recognise_key(recs, "RENDER_API_KEY", "not-a-render-key") is None
        r = recognise_file(recs, ".render/cli.yaml", "api.key")
        assert r is not None and r.kind == "api_key" and r.category == "cli_config"
        assert recognise_file(recs, ".render/cli.yaml", "api.refreshtoken").kind == "cli_refresh_token"

    def test_full_key_reasons_and_inventory(self, provider: RenderProvider, fake: FakeRender, canaries: Any) -> None:
        creds, inv = run_all(provider, [self.candidate(fake, canaries, "full")], self.ctx(fake))
        c = creds[0]
        assert c.root_equivalent is True and c.principal == "ada@example.test"
        assert any("classic" in r for r in c.reasons)
        ids = {r.id for r in inv.resources}
        assert {
            "render:postgres:dpg-main1",
            "render:disk:dsk-data1",
            "render:key_value:red-cache1",
            "render:workspace:tea-b1a57",
        } <= ids
        kinds = {b.kind for b in inv.backups}
        assert kinds == {"pitr", "logical_export", "snapshot"}
        assert all(b.dies_with_resource is None and b.reasons for b in inv.backups)
        assert "SHOULD-NOT-APPEAR" not in inv.model_dump_json()  # export download links are bearer links
        br = analyse(creds, inv.resources, inv.backups, inv.facts)
        exp = {e.credential: e for e in br.exposure}[c.id]
        assert "render:postgres:dpg-main1" in exp.can_destroy
        assert "render:key_value:red-cache1" in exp.unrecoverable  # no backup at all
        assert "render:postgres:dpg-main1" in exp.possibly_unrecoverable
        assert fake.writes == []

    def test_scoped_key_facts(self, provider: RenderProvider, fake: FakeRender, canaries: Any) -> None:
        full = self.candidate(fake, canaries, "full")
        scoped = self.candidate(fake, canaries, "scoped")
        creds, inv = run_all(provider, [full, scoped], self.ctx(fake))
        s = creds[1]
        assert s.root_equivalent is False and "delete:service" in s.possible_capabilities
        facts = {(f.credential, f.target): f.verdict for f in inv.facts}
        assert facts[(s.id, "render:postgres:dpg-main1")] is False  # no permission on Postgres
        assert facts[(s.id, "render:postgres:dpg-hobby1")] is False  # other workspace
        assert facts[(s.id, "render:service:srv-web1")] is None
        assert any("postgres" in g.subject for g in inv.gaps)

    def test_single_workspace_is_unknown_not_safe(
        self, provider: RenderProvider, fake: FakeRender, canaries: Any
    ) -> None:
        c = provider.identify(provider.classify(self.candidate(fake, canaries, "single")), self.ctx(fake))
        assert c.status == Status.verified and c.root_equivalent is None
        assert "delete:postgres" in c.possible_capabilities

    def test_refresh_token_is_offline_only(self, provider: RenderProvider, fake: FakeRender, canaries: Any) -> None:
        cand = make_candidate("render", "cli_refresh_token", canaries.mint("{r}"), locator="api.refreshtoken")
        c = provider.identify(provider.classify(cand), self.ctx(fake))
        assert c.status == Status.unverified and c.root_equivalent is None and fake.log == []

    def test_discovery_finds_cli_login(self, provider: RenderProvider, canaries: Any, tmp_path: Any) -> None:
        key, refresh = canaries.mint("rnd_{r}"), canaries.mint("{r}")
        cands = _discover_home(
            tmp_path,
            provider,
            {
                ".render/cli.yaml": (
                    f"version: 1\nworkspace: tea-b1a57\napi:\n  key: {key}\n  expires_at: 2026-12-31T00:00:00Z\n"
                    f"  host: https://api.render.com/v1/\n  refreshtoken: {refresh}\n"
                )
            },
        )
        by = {c.secret.reveal(): c for c in cands}
        assert by[key].kind == "api_key" and by[key].sources[0].locator == "api.key"
        assert by[key].sources[0].category == "cli_config"
        # (an unquoted YAML timestamp in api.expires_at is dropped by discovery's flattening: not a hint here)
        assert by[refresh].kind == "cli_refresh_token"

    def test_refuses_plain_http_to_remote_hosts(self, provider: RenderProvider, fake: Any, canaries: Any) -> None:
        cand = self.candidate(fake, canaries, "full")
        with pytest.raises(BlastwallError, match="refusing to send credentials"):
            provider.identify(provider.classify(cand), self.ctx(url="http://api.example.test"))
        assert fake.log == []
