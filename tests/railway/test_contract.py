"""The shared provider contract (tests/providers/contract.py), run against the fake Railway API."""

from __future__ import annotations

import uuid
from typing import Any

from auditor.model import Status
from providers.railway import RailwayProvider
from tests.providers.contract import ProviderContract, make_candidate
from tests.support.railway_fake import RailwayFakeServer, small_scenario


class TestRailwayContract(ProviderContract):
    provider_cls = RailwayProvider
    url_env = "BLASTWALL_RAILWAY_URL"
    prose_decoys = [
        "Set RAILWAY_TOKEN in your CI to deploy without logging in.",
        "Railway tokens carry no scopes, so treat every railway token as root.",
        "railway token: ask Alice for it, never commit it",
        "project 2a1b3c4d-0000-4000-8000-00000000abcd on railway",
    ]

    @classmethod
    def make_fake(cls) -> RailwayFakeServer:
        return RailwayFakeServer(small_scenario()).start()

    def candidate(self, fake: Any, canaries: Any, profile: str):
        s = fake.scenario
        value = canaries.add(str(uuid.uuid4()))
        alice = next(u for u in s.users.values() if u.email.startswith("alice"))
        if profile in ("full", "scoped"):
            # Railway has no scoped token: the closest is a project token (judged None, never False).
            if profile == "full":
                s.token(f"c-{value[:8]}", "account", value=value, user_id=alice.id)
                return make_candidate("railway", "api_token", value, locator="RAILWAY_API_TOKEN")
            shop = next(p for p in s.projects.values() if p.name == "shop")
            s.token(
                f"c-{value[:8]}",
                "project",
                value=value,
                project_id=shop.id,
                environment_id=s.env(shop, "production").id,
            )
            return make_candidate("railway", "project_token", value, locator="RAILWAY_TOKEN")
        if profile == "forbidden":
            s.token(f"c-{value[:8]}", "account", value=value, user_id=alice.id, forbidden=True)
        return make_candidate("railway", "api_token", value, locator="RAILWAY_API_TOKEN")

    def recognition_samples(self, canaries: Any):
        v = canaries.add(str(uuid.uuid4()))
        return [(f"# railway token: {v}\n", v, "unknown_token"), (f"RAILWAY_API_KEY = {v}", v, "unknown_token")]

    def test_scoped_is_not_root_equivalent(self, provider, fake, canaries) -> None:  # type: ignore[override]
        """Railway has no scoped tokens at all; its narrowest (project) token is unknown, never "safe"."""
        cred = provider.identify(provider.classify(self.candidate(fake, canaries, "scoped")), self.ctx(fake))
        assert cred.status == Status.verified, cred.reasons
        assert cred.root_equivalent is None and cred.possible_capabilities
        assert any("never safe" in r for r in cred.reasons)
