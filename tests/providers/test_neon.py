"""Neon provider against its fake API, through the shared contract suite, plus Neon specifics."""

from __future__ import annotations

from typing import Any

import pytest

from auditor.engine import analyse
from auditor.errors import BlastwallError
from auditor.model import Status
from providers.neon import NeonProvider
from tests.providers.contract import ProviderContract, make_candidate, recognise_file, recognise_key, run_all
from tests.support.fakes.neon import FakeNeon


def _discover_home(tmp_path: Any, provider: Any, files: dict[str, str]) -> list[Any]:
    """Real discovery (auditor.discovery) over a home holding ``files``; the provider's recognisers only."""
    from auditor.discovery import DiscoveryOptions, discover

    home = tmp_path / "home"
    for rel, text in files.items():
        p = home / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return discover(list(provider.recognisers()), DiscoveryOptions(home=home)).candidates


class TestNeonContract(ProviderContract):
    provider_cls = NeonProvider
    url_env = "BLASTWALL_NEON_URL"
    prose_decoys = (
        "Set NEON_API_KEY in your environment before running the migration.",
        "Neon API keys are random 64-bit tokens; napi_ and neon_ prefixes are not documented.",
        "napi_abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnop",  # no free-text pattern on purpose
    )

    @classmethod
    def make_fake(cls) -> FakeNeon:
        return FakeNeon().start()

    def candidate(self, fake: Any, canaries: Any, profile: str) -> Any:
        value = canaries.mint("{r}")
        if profile != "invalid":
            fake.add_token(value, profile)
        return make_candidate("neon", "api_key", value, locator="NEON_API_KEY")

    def recognition_samples(self, canaries: Any) -> list[tuple[str, str, str]]:
        # Neon keys have no documented format: only assignments to a Neon variable are recognised
        a, b = canaries.mint("{r}"), "napi_" + canaries.mint("{r}")
        return [(f"NEON_API_KEY={a}\n", a, "api_key"), (f'export NEON_API_KEY="{b}"\n', b, "api_key")]

    def test_key_names_and_cli_file(self, provider: NeonProvider, canaries: Any) -> None:
        recs = list(provider.recognisers())
        assert recognise_key(recs, "mcpServers.neon.env.NEON_API_KEY", canaries.mint("{r}")) == "api_key"
        assert recognise_key(recs, "NEON_API_KEY", "short") is None
        a = recognise_file(recs, ".config/neonctl/credentials.json", "access_token")
        assert a is not None and a.kind == "cli_oauth_token" and a.category == "cli_config"
        assert recognise_file(recs, ".config/neonctl/credentials.json", "refresh_token").kind == "cli_refresh_token"

    def test_personal_key_exposure(self, provider: NeonProvider, fake: FakeNeon, canaries: Any) -> None:
        creds, inv = run_all(provider, [self.candidate(fake, canaries, "full")], self.ctx(fake))
        c = creds[0]
        assert c.root_equivalent is True and c.principal == "ada@example.test" and c.metadata["key_type"] == "personal"
        assert {r.id for r in inv.resources if r.type == "project"} == {
            "neon:project:quiet-moon-777777",  # personal
            "neon:project:cool-snow-123456",  # the organization's, listed with org_id
            "neon:project:dry-leaf-654321",
        }
        kinds = sorted(b.kind for b in inv.backups)
        assert kinds == ["history"] * 3 + ["snapshot"] + ["soft_delete"] * 3
        br = analyse(creds, inv.resources, inv.backups, inv.facts)
        exp = {e.credential: e for e in br.exposure}[c.id]
        # the 7-day soft delete may or may not survive this key: possibly, not certainly, unrecoverable
        assert set(exp.possibly_unrecoverable) == {
            "neon:project:quiet-moon-777777",
            "neon:project:cool-snow-123456",
            "neon:project:dry-leaf-654321",
        }
        assert fake.writes == []

    def test_organization_key(self, provider: NeonProvider, fake: FakeNeon, canaries: Any) -> None:
        c = provider.identify(provider.classify(self.candidate(fake, canaries, "org")), self.ctx(fake))
        assert c.root_equivalent is True and c.metadata["key_type"] == "organization"

    def test_project_key_cannot_delete_its_project(self, provider: NeonProvider, fake: FakeNeon, canaries: Any) -> None:
        creds, inv = run_all(provider, [self.candidate(fake, canaries, "scoped")], self.ctx(fake))
        c = creds[0]
        assert c.metadata["key_type"] == "project" and "delete:branch" in c.capabilities
        facts = {(f.credential, f.target): f.verdict for f in inv.facts}
        assert facts[(c.id, "neon:project:dry-leaf-654321")] is False

    def test_cli_tokens(self, provider: NeonProvider, fake: FakeNeon, canaries: Any) -> None:
        at = canaries.mint("{r}")
        fake.add_token(at, "full")
        c = provider.identify(
            provider.classify(
                make_candidate(
                    "neon", "cli_oauth_token", at, locator="access_token", hints={"expires_at": "2026-12-01T20:00:00Z"}
                )
            ),
            self.ctx(fake),
        )
        assert c.root_equivalent is True and c.metadata["key_type"] == "login"
        fake.log.clear()
        rt = provider.identify(
            provider.classify(make_candidate("neon", "cli_refresh_token", canaries.mint("{r}"))), self.ctx(fake)
        )
        assert rt.status == Status.unverified and rt.root_equivalent is True and fake.log == []

    def test_discovery_finds_neonctl_login(self, provider: NeonProvider, canaries: Any, tmp_path: Any) -> None:
        at, rt = canaries.mint("{r}"), canaries.mint("{r}")
        import json

        cands = _discover_home(
            tmp_path,
            provider,
            {
                ".config/neonctl/credentials.json": json.dumps(
                    {
                        "access_token": at,
                        "refresh_token": rt,
                        "expires_at": 1764547200,
                        "token_type": "bearer",
                        "scope": "openid offline urn:neoncloud:projects:create",
                    }
                )
            },
        )
        by = {c.secret.reveal(): c for c in cands}
        assert by[at].kind == "cli_oauth_token" and by[at].hints.get("expires_at") == "1764547200"
        assert by[rt].kind == "cli_refresh_token" and by[rt].sources[0].category == "cli_config"

    def test_refuses_plain_http_to_remote_hosts(self, provider: NeonProvider, fake: Any, canaries: Any) -> None:
        cand = self.candidate(fake, canaries, "full")
        with pytest.raises(BlastwallError, match="refusing to send credentials"):
            provider.identify(provider.classify(cand), self.ctx(url="http://api.example.test"))
        assert fake.log == []

    def test_discovery_finds_mcp_positional_key(self, provider: NeonProvider, canaries: Any, tmp_path: Any) -> None:
        import json

        key, other = canaries.mint("{r}"), canaries.mint("{r}")
        cfg = {
            "mcpServers": {
                "Neon": {"command": "npx", "args": ["-y", "@neondatabase/mcp-server-neon", "start", key]},
                "other": {"command": "npx", "args": ["-y", "some-server", "start", other]},
            }
        }
        cands = _discover_home(tmp_path, provider, {".cursor/mcp.json": json.dumps(cfg)})
        assert [c.secret.reveal() for c in cands] == [key]
        assert cands[0].sources[0].locator == "mcpServers.Neon.args[3]"
        assert cands[0].sources[0].category == "agent_config"
