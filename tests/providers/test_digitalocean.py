"""DigitalOcean provider: the shared contract plus the opt-in safe write probe and backup facts."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from auditor.engine import analyse
from auditor.model import Status
from auditor.provider import ProviderContext
from providers.digitalocean import DigitalOceanProvider
from tests.providers.contract import ProviderContract, make_candidate, recognise_file, recognise_key
from tests.support.fakes.digitalocean import FakeDigitalOcean


def _tok(prefix: str = "dop_v1_") -> str:
    return prefix + secrets.token_hex(32)


class TestDigitalOceanContract(ProviderContract):
    provider_cls = DigitalOceanProvider
    url_env = "BLASTWALL_DIGITALOCEAN_URL"
    verdict_options = {"probe_writes": True}  # scopes are only learnt by the opt-in safe probe
    prose_decoys = [
        "DigitalOcean tokens look like dop_v1_ followed by 64 hex characters.",
        "DIGITALOCEAN_ACCESS_TOKEN=dop_v1_xxx",
        "sha256: " + "ab" * 32,
    ]

    @classmethod
    def make_fake(cls) -> FakeDigitalOcean:
        return FakeDigitalOcean().start()

    def candidate(self, fake: FakeDigitalOcean, canaries: Any, profile: str):
        value = canaries.add(_tok())
        if profile != "invalid":
            fake.add_token(value, profile)
        return make_candidate("digitalocean", "personal_access_token", value, locator="DIGITALOCEAN_ACCESS_TOKEN")

    def recognition_samples(self, canaries: Any):
        out = []
        for prefix, kind in [
            ("dop_v1_", "personal_access_token"),
            ("doo_v1_", "oauth_token"),
            ("dor_v1_", "oauth_refresh_token"),
        ]:
            v = canaries.add(_tok(prefix))
            out.append((f'token = "{v}"', v, kind))
        return out


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeDigitalOcean]:
    with FakeDigitalOcean() as f:
        yield f


def _ctx(fake: FakeDigitalOcean, **kw: Any) -> ProviderContext:
    return ProviderContext(env={"BLASTWALL_DIGITALOCEAN_URL": fake.url}, sleep=lambda s: None, **kw)


def _run(fake: FakeDigitalOcean, profile: str, **kw: Any):
    p = DigitalOceanProvider()
    v = fake.add_token(_tok(), profile)
    cred = p.identify(p.classify(make_candidate("digitalocean", "token", v)), _ctx(fake, **kw))
    return cred, p.inventory([cred], _ctx(fake, **kw))


def test_without_probe_verdict_is_unknown_and_nothing_written(fake: FakeDigitalOcean) -> None:
    fake.log.clear()
    cred, inv = _run(fake, "full")
    assert cred.status == Status.verified and cred.principal == "ops@example.com"
    assert cred.root_equivalent is None and any("--probe-writes" in r for r in cred.reasons)
    assert {f.verdict for f in inv.facts} == {None}
    assert fake.writes == []


def test_probe_full_token_root_equivalent_and_backups_die_with_cluster(fake: FakeDigitalOcean) -> None:
    fake.log.clear()
    cred, inv = _run(fake, "full", probe_writes=True)
    assert cred.root_equivalent is True and "delete:database" in cred.capabilities
    # Only deliberately invalid requests: DELETEs of IDs that cannot exist, one POST with an empty body.
    for method, path in fake.writes:
        assert (method == "DELETE" and (path.endswith("/0") or "00000000-0000" in path)) or (
            method == "POST" and path == "/v2/droplets"
        )
    db_backup = [b for b in inv.backups if b.id.startswith("digitalocean:database-backups:")]
    assert db_backup and db_backup[0].dies_with_resource is True
    snaps = [b for b in inv.backups if b.kind == "snapshot"]
    assert len(snaps) == 2 and all(b.dies_with_resource is False for b in snaps)
    result = analyse([cred], inv.resources, inv.backups, inv.facts)
    db = "digitalocean:database:9cc10173-e9ea-4176-9dbc-a4cee4c4ff30"
    assert db in result.exposure[0].unrecoverable


def test_probe_scoped_token_only_database_delete(fake: FakeDigitalOcean) -> None:
    cred, inv = _run(fake, "scoped", probe_writes=True)
    assert cred.root_equivalent is False and cred.capabilities == ("delete:database",)
    verdicts = {f.target.split(":")[1]: f.verdict for f in inv.facts}
    assert verdicts["database"] is True and verdicts["droplet"] is False and verdicts["volume"] is False


def test_probe_readonly_token(fake: FakeDigitalOcean) -> None:
    cred, _ = _run(fake, "readonly", probe_writes=True)
    assert cred.root_equivalent is False and cred.capabilities == ()
    assert any("read-only" in r for r in cred.reasons)


def test_probe_write_that_succeeds_aborts(fake: FakeDigitalOcean) -> None:
    fake.log.clear()
    cred, _ = _run(fake, "reckless", probe_writes=True)
    assert cred.status == Status.error and any("aborted" in r for r in cred.reasons)
    assert len(fake.writes) == 1


def test_doctl_and_env_recognisers() -> None:
    recs = DigitalOceanProvider().recognisers()
    assert recognise_file(recs, ".config/doctl/config.yaml", "access-token") is not None
    assert recognise_file(recs, ".config/doctl/config.yaml", "auth-contexts.work") is not None
    assert recognise_file(recs, ".config/doctl/config.yaml", "context") is None
    assert recognise_key(recs, "DIGITALOCEAN_ACCESS_TOKEN", _tok()) == "token"
    assert recognise_key(recs, "DIGITALOCEAN_ACCESS_TOKEN", "dop_v1_short") is None
