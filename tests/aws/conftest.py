"""AWS provider test fixtures: the must-show scenario audited once per module against moto."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from auditor.engine import BlastRadius, analyse
from auditor.model import Candidate, Credential, Inventory, Source, SourceCategory
from auditor.provider import ProviderContext
from auditor.secrets import Secret
from providers.aws import AwsProvider
from tests.aws.scenario import Scenario, build
from tests.support.moto_server import MotoHandle


def key_candidate(
    key_id: str, secret: str, locator: str = "default.aws_access_key_id", token: str | None = None
) -> Candidate:
    comps = {"secret_access_key": Secret(secret)}
    if token:
        comps["session_token"] = Secret(token)
    return Candidate(
        provider="aws",
        kind="access_key",
        secret=Secret(key_id),
        companions=comps,
        sources=(Source(path="/fixture/.aws/credentials", locator=locator, category=SourceCategory.cli_config),),
    )


def context(moto: MotoHandle, **settings: Any) -> ProviderContext:
    return ProviderContext(env=moto.env, settings={"regions": ["us-east-1"], **settings}, timeout_s=20, max_retries=2)


@dataclass
class Audited:
    moto: MotoHandle
    scenario: Scenario
    provider: AwsProvider
    creds: dict[str, Credential]  # by user name, after inventory refinement
    inventory: Inventory
    blast: BlastRadius

    def cred(self, name: str) -> Credential:
        return self.creds[name]


def audit(moto: MotoHandle, sc: Scenario, names: list[str] | None = None, **settings: Any) -> Audited:
    prov = AwsProvider()
    ctx = context(moto, **settings)
    names = names or list(sc.keys)
    ids: dict[str, str] = {}
    identified = []
    for n in names:
        k = sc.keys[n]
        c = prov.identify(prov.classify(key_candidate(k.key_id, k.secret, f"{n}.aws_access_key_id")), ctx)
        ids[c.id] = n
        identified.append(c)
    inv = prov.inventory(identified, ctx)
    refined = {ids[c.id]: c for c in inv.credentials}
    blast = analyse(list(refined.values()), inv.resources, inv.backups, inv.facts)
    return Audited(moto, sc, prov, refined, inv, blast)


@pytest.fixture(scope="module")
def scenario_account(moto_server: MotoHandle) -> Iterator[tuple[MotoHandle, Scenario]]:
    moto_server.reset()
    yield moto_server, build(moto_server)
    moto_server.reset()


@pytest.fixture(scope="module")
def audited(scenario_account: tuple[MotoHandle, Scenario]) -> Audited:
    moto, sc = scenario_account
    return audit(moto, sc)
