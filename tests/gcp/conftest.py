"""Google Cloud test fixtures: a seeded fake, accounts with keys generated at test time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from auditor.model import Candidate
from auditor.provider import ProviderContext
from tests.providers.contract import make_candidate
from tests.support.fakes.gcp import KEY_MINTER, OWNER, VIEWER, FakeGcp, ServiceAccountKey

OWNER_SA = "deployer@shop-prod.iam.gserviceaccount.com"
VIEWER_SA = "dashboards@shop-prod.iam.gserviceaccount.com"
MINTER_SA = "ci-keys@shop-staging.iam.gserviceaccount.com"
USER = "alice@example.com"
GCLOUD_CLIENT_ID = "764086051850-6qr4p6gpi6hn506pt8ejuq83di341hur.apps.googleusercontent.com"


@dataclass
class Estate:
    fake: FakeGcp
    owner: ServiceAccountKey
    viewer: ServiceAccountKey
    minter: ServiceAccountKey
    user_refresh: str
    user_secret: str


def seeded() -> Estate:
    fake = FakeGcp().start()
    fake.seed_estate()
    owner = fake.add_service_account(OWNER_SA, "shop-prod")
    viewer = fake.add_service_account(VIEWER_SA, "shop-prod")
    minter = fake.add_service_account(MINTER_SA, "shop-staging")
    fake.grant(OWNER_SA, "shop-prod", OWNER)
    fake.grant(VIEWER_SA, "shop-prod", VIEWER)
    fake.grant(MINTER_SA, "shop-staging", KEY_MINTER)
    fake.grant(MINTER_SA, "shop-prod", {"resourcemanager.projects.get"})
    fake.grant_on_account(MINTER_SA, OWNER_SA, {"iam.serviceAccountKeys.create"})
    import secrets

    refresh = "1//0g" + secrets.token_urlsafe(60)
    secret = "d-" + secrets.token_urlsafe(18)
    fake.add_user(USER, refresh, GCLOUD_CLIENT_ID, secret)
    fake.grant(USER, "shop-staging", OWNER)
    return Estate(fake, owner, viewer, minter, refresh, secret)


@pytest.fixture(scope="module")
def estate() -> Iterator[Estate]:
    e = seeded()
    try:
        yield e
    finally:
        e.fake.stop()


@pytest.fixture
def gcp(estate: Estate, canaries: Any) -> Estate:
    """The estate with every key, login secret and access token it hands out planted as canaries."""
    estate.fake.log.clear()
    for k in (estate.owner, estate.viewer, estate.minter):
        canaries.add_pem(k.private_pem)
    canaries.add(estate.user_refresh)
    canaries.add(estate.user_secret)
    for t in estate.fake.issued:
        canaries.add(t)
    estate.fake.on_issue = canaries.add
    return estate


def ctx(fake: FakeGcp, **kw: Any) -> ProviderContext:
    return ProviderContext(env={"BLASTWALL_GCP_URL": fake.url}, sleep=lambda s: None, timeout_s=5, **kw)


def key_candidate(key: ServiceAccountKey, path: str = "/srv/keys/key.json") -> Candidate:
    info = key.key_file()
    return make_candidate(
        "gcp",
        "service_account_key",
        key.private_pem,
        locator="private_key",
        path=path,
        companions={k: info[k] for k in ("client_email", "private_key_id", "project_id", "token_uri")},
    )
