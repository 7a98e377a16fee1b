"""The shared provider contract, run against the fake Google Cloud."""

from __future__ import annotations

import secrets
from typing import Any

from providers.gcp import GcpProvider
from tests.gcp.conftest import key_candidate
from tests.providers.contract import ProviderContract
from tests.support.fakes.gcp import OWNER, VIEWER, FakeGcp


class TestGcpContract(ProviderContract):
    provider_cls = GcpProvider
    url_env = "BLASTWALL_GCP_URL"
    prose_decoys = [
        "Google API keys start with AIza and are 39 characters long.",
        "private_key: see the service-account key file",
        "refresh_token = 1//short",
    ]

    @classmethod
    def make_fake(cls) -> FakeGcp:
        fake = FakeGcp().start()
        fake.seed_estate()
        fake.profile_keys = {}  # type: ignore[attr-defined]
        for profile, perms in (("full", OWNER), ("scoped", VIEWER), ("forbidden", set()), ("invalid", set())):
            email = f"{profile}@shop-prod.iam.gserviceaccount.com"
            key = fake.add_service_account(email, "shop-prod")
            if perms:
                fake.grant(email, "shop-prod", perms)
            if profile == "invalid":
                fake.revoke(key)  # the key was deleted: Google refuses the signed JWT
            fake.profile_keys[profile] = key  # type: ignore[attr-defined]
        return fake

    def candidate(self, fake: FakeGcp, canaries: Any, profile: str):
        key = fake.profile_keys[profile]  # type: ignore[attr-defined]
        canaries.add_pem(key.private_pem)
        for t in fake.issued:
            canaries.add(t)
        fake.on_issue = canaries.add
        return key_candidate(key)

    def recognition_samples(self, canaries: Any):
        v = canaries.add("AIza" + secrets.token_urlsafe(26)[:35].ljust(35, "x"))
        return [(f'const firebaseKey = "{v}";', v, "api_key")]
