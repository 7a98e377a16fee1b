"""Providers state "credential C cannot destroy any resource of type T" where scopes, roles, caveats or probes
prove it, and never for a full-access credential. Each case runs the real provider against its fake.

Reviewed and not stated (nothing proves a whole type out of reach): Railway (tokens have no scopes; a project
token's power over volumes is undocumented), AWS (IAM is judged per credential and resource from the policies:
every pair already gets a fact), Heroku scoped tokens (the write scope cannot be read), Supabase and Vercel
team tokens (grants not readable), Stripe secret and unprobed restricted keys."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from auditor.engine import analyse
from auditor.model import Status
from tests.providers.contract import make_candidate, run_all
from tests.support.canary import Canaries

# (provider test module, profile, extra context, resource types the credential is stated unable to destroy)
CASES = [
    ("github", "scoped", {}, {"repository", "organization"}),  # scopes read:user, repo:status
    ("cloudflare", "scoped", {}, {"d1-database", "kv-namespace", "r2-bucket"}),  # D1 Read, Workers Scripts Write
    ("digitalocean", "scoped", {"probe_writes": True}, {"droplet", "volume"}),  # probed: may delete databases only
    ("fly", "scoped", {}, {"app", "volume"}),  # caveats without the delete action
    ("render", "scoped", {}, {"disk", "postgres"}),  # scoped key refused those types
    ("neon", "scoped", {}, {"project", "organization"}),  # project-scoped key (Neon docs)
    ("vercel", "project", {}, {"team", "account", "integration", "marketplace_database"}),  # own project unknown
    ("stripe", "restricted_read", {"probe_writes": True}, {"payments-account"}),  # probed: no write permission
]


def _suite(module: str) -> Any:
    mod = importlib.import_module(f"tests.providers.test_{module}")
    return next(v for k, v in vars(mod).items() if k.startswith("Test") and k.endswith("Contract"))


def _candidate(suite: Any, fake: Any, canaries: Canaries, module: str, profile: str) -> Any:
    if module == "stripe" and profile == "restricted_read":
        value = canaries.mint("rk_live_{r}")
        fake.add_token(value, profile)
        return make_candidate("stripe", "key", value, locator="STRIPE_SECRET_KEY")
    if module == "vercel" and profile == "project":
        value = canaries.mint("vcp_{r}")
        fake.add_token(value, profile)
        return make_candidate("vercel", "token", value, locator="VERCEL_TOKEN")
    return suite().candidate(fake, canaries, profile)


@pytest.mark.parametrize(("module", "profile", "extra", "types"), CASES, ids=[c[0] for c in CASES])
def test_scoped_credentials_state_what_they_cannot_destroy(
    module: str, profile: str, extra: dict[str, Any], types: set[str], canaries: Canaries
) -> None:
    cls = _suite(module)
    fake = cls.make_fake()
    try:
        suite = cls()
        provider = cls.provider_cls()
        ctx = suite.ctx(fake, **{**cls.verdict_options, **extra})
        scoped = _candidate(cls, fake, canaries, module, profile)
        full = suite.candidate(fake, canaries, "full")
        creds, inv = run_all(provider, [scoped, full], ctx)
        low, high = creds
        assert low.status == Status.verified and high.status == Status.verified, (low.reasons, high.reasons)
        stated = {d.resource_type for d in inv.denials if d.credential == low.id}
        assert stated == types, inv.denials
        assert all(d.provider == provider.name and d.reason for d in inv.denials)
        assert not [d for d in inv.denials if d.credential == high.id]  # full access: never "cannot"
        # the engine applies them to every resource of those types, also those only the full credential listed
        br = analyse(creds, inv.resources, inv.backups, inv.facts, inv.denials)
        mine = next((e for e in br.exposure if e.credential == low.id), None)
        kinds = {r.id: r.type for r in inv.resources}
        reach = set(mine.can_destroy + mine.may_destroy) if mine else set()
        assert not {kinds[rid] for rid in reach} & types, reach
    finally:
        fake.stop()
