"""The audit of a home holding credentials of all ten pack providers plus Railway and AWS completes when
three of the fake servers are down or rate-limiting, and reports exactly those three as coverage gaps.

Everything is real except the platforms: discovery reads the fixture home, ``run_audit`` runs every
provider's identify and inventory against local fakes (FakeHTTPServer fakes, the Railway GraphQL fake,
moto for AWS), the engine judges the result, the JSON report is rendered and searched for the secrets.
"""

from __future__ import annotations

import json
import logging
import secrets
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.audit import AuditOptions, run_audit
from auditor.model import Status
from auditor.provider import ProviderContext
from tests.support.fakes.cloudflare import FakeCloudflare
from tests.support.fakes.digitalocean import FakeDigitalOcean
from tests.support.fakes.fly import FakeFly, org_token
from tests.support.fakes.github import FakeGitHub
from tests.support.fakes.heroku import FakeHeroku
from tests.support.fakes.neon import FakeNeon
from tests.support.fakes.render import FakeRender
from tests.support.fakes.stripe import FakeStripe
from tests.support.fakes.supabase import FakeSupabase
from tests.support.fakes.vercel import FakeVercel

PACK = {
    "github": (FakeGitHub, "BLASTWALL_GITHUB_URL"),
    "stripe": (FakeStripe, "BLASTWALL_STRIPE_URL"),
    "cloudflare": (FakeCloudflare, "BLASTWALL_CLOUDFLARE_URL"),
    "digitalocean": (FakeDigitalOcean, "BLASTWALL_DIGITALOCEAN_URL"),
    "fly": (FakeFly, "BLASTWALL_FLY_URL"),
    "render": (FakeRender, "BLASTWALL_RENDER_URL"),
    "heroku": (FakeHeroku, "BLASTWALL_HEROKU_URL"),
    "supabase": (FakeSupabase, "BLASTWALL_SUPABASE_URL"),
    "neon": (FakeNeon, "BLASTWALL_NEON_URL"),
    "vercel": (FakeVercel, "BLASTWALL_VERCEL_URL"),
}
ALL = set(PACK) | {"railway", "aws"}
BASE_PATH = {"cloudflare": "/client/v4"}  # providers whose base URL includes an API prefix


@pytest.fixture
def pack_fakes() -> Iterator[dict[str, Any]]:
    fakes = {name: cls().start() for name, (cls, _) in PACK.items()}
    try:
        yield fakes
    finally:
        for f in fakes.values():
            try:
                f.stop()
            except Exception:
                pass  # a fake the test stopped on purpose


def _hex(n: int) -> str:
    return secrets.token_hex(n)[:n]


def _plant(home: Path, fakes: dict[str, Any], canaries: Any, railway_token: str, aws: tuple[str, str]) -> None:
    """Credentials of all twelve providers in CLI files, an MCP config and a dotenv file of the home."""
    t = {
        "github": "ghp_" + _hex(36),
        "stripe": "sk_live_" + _hex(99),
        "cloudflare": "cfut_" + _hex(40) + _hex(8),
        "digitalocean": "dop_v1_" + _hex(64),
        "fly": org_token(),
        "render": "rnd_" + _hex(40),
        "heroku": str(uuid.uuid4()),
        "supabase": "sbp_" + _hex(40),
        "neon": _hex(64),
        "vercel": "vcp_" + _hex(48),
    }
    for name, value in t.items():
        canaries.add(value.removeprefix("FlyV1 "))
        fakes[name].add_token(value.removeprefix("FlyV1 "), "full")
    canaries.add(railway_token)
    canaries.add(aws[1])
    files = {
        ".env": (
            f"GITHUB_TOKEN={t['github']}\nSTRIPE_SECRET_KEY={t['stripe']}\n"
            f"CLOUDFLARE_API_TOKEN={t['cloudflare']}\nDIGITALOCEAN_ACCESS_TOKEN={t['digitalocean']}\n"
            f'FLY_API_TOKEN="{t["fly"]}"\nRAILWAY_API_TOKEN={railway_token}\n'
        ),
        ".aws/credentials": f"[default]\naws_access_key_id = {aws[0]}\naws_secret_access_key = {aws[1]}\n",
        ".render/cli.yaml": f"version: 1\napi:\n  key: {t['render']}\n  host: https://api.render.com/v1/\n",
        ".netrc": f"machine api.heroku.com\n  login ada@example.test\n  password {t['heroku']}\n",
        ".supabase/access-token": t["supabase"] + "\n",
        ".config/neonctl/credentials.json": json.dumps({"access_token": t["neon"], "token_type": "bearer"}),
        ".claude.json": json.dumps(
            {
                "mcpServers": {
                    "vercel": {"command": "npx", "args": ["-y", "vercel-mcp"], "env": {"VERCEL_TOKEN": t["vercel"]}}
                }
            }
        ),
    }
    for rel, text in files.items():
        p = home / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# Each scenario: which three are in trouble, and how.
#   A: GitHub down (connection refused), Heroku rate-limits every request (Retry-After 30), Supabase 503s.
#   B: Railway rate-limits every request, Render and Vercel are down.
#   C: AWS's endpoint, Neon and Stripe are down.
SCENARIOS = {
    "github-down,heroku-429,supabase-503": {"github", "heroku", "supabase"},
    "railway-429,render-down,vercel-down": {"railway", "render", "vercel"},
    "aws-down,neon-down,stripe-down": {"aws", "neon", "stripe"},
}


@pytest.mark.slow
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_audit_survives_three_providers_down(
    scenario: str,
    tmp_path: Path,
    canaries: Any,
    pack_fakes: dict[str, Any],
    railway_fake: Any,
    moto: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    down = SCENARIOS[scenario]
    iam = moto.client("iam")
    iam.create_user(UserName="ci")
    key = iam.create_access_key(UserName="ci")["AccessKey"]
    home = tmp_path / "home"
    _plant(home, pack_fakes, canaries, railway_fake.token("account"), (key["AccessKeyId"], key["SecretAccessKey"]))
    env = {url_env: pack_fakes[name].url + BASE_PATH.get(name, "") for name, (_, url_env) in PACK.items()}
    env["BLASTWALL_RAILWAY_URL"] = railway_fake.url
    env.update(moto.env)
    for f in pack_fakes.values():
        f.log.clear()
    if "github" in down:
        pack_fakes["github"].stop()
    if "heroku" in down:
        pack_fakes["heroku"].always_rate_limit = True
        pack_fakes["heroku"].retry_after = 30  # honoured through the injected sleep, never really waited
    if "supabase" in down:
        pack_fakes["supabase"].fail_next_5xx = 10_000
    if "railway" in down:
        railway_fake.rate_limit(times=10_000, retry_after=30)
    if "aws" in down:
        env["AWS_ENDPOINT_URL"] = _closed_port_url()
    for name in ("vercel", "render", "neon", "stripe"):
        if name in down:
            pack_fakes[name].stop()
    slept: list[float] = []
    ctx = ProviderContext(timeout_s=3.0, max_retries=2, sleep=slept.append)

    caplog.clear()
    caplog.set_level(logging.DEBUG)  # after the setup: botocore logs moto's create_access_key answer
    started = time.monotonic()
    result = run_audit(AuditOptions(home=home, include_env=False, env=env), ctx=ctx)
    elapsed = time.monotonic() - started

    by_provider: dict[str, list[Any]] = {}
    for c in result.credentials:
        by_provider.setdefault(c.provider, []).append(c)
    assert ALL <= set(by_provider), f"not discovered: {sorted(ALL - set(by_provider))}"
    for name in ALL - down:
        assert any(c.status == Status.verified for c in by_provider[name]), (
            name,
            [c.reasons for c in by_provider[name]],
        )
    for name in down:
        assert all(c.status == Status.error for c in by_provider[name]), (name, [c.status for c in by_provider[name]])
    # a coverage gap about one of the provider's credentials (by id, or naming its fingerprint)
    gap_providers = {
        g.provider
        for g in result.coverage_gaps
        for c in result.credentials
        if g.provider == c.provider and (g.subject == c.id or c.fingerprint in g.subject)
    }
    assert gap_providers == down, [(g.provider, g.subject, g.reason) for g in result.coverage_gaps]
    if {"heroku", "railway"} & down:
        assert 30.0 in slept  # Retry-After was honoured (through the injected sleep)
    # the others still produced their inventories: no provider-wide failure
    assert {r.provider for r in result.resources} >= {"render", "neon", "digitalocean", "railway", "vercel"} - down
    failed = [g for g in result.coverage_gaps if g.subject.endswith(" inventory") and g.provider in ALL - down]
    assert not failed, failed
    exp = {e.credential: e for e in result.exposure}
    if "vercel" not in down:  # the Vercel→Supabase cascade holds whether or not Supabase answers
        vercel = next(c for c in by_provider["vercel"] if c.status == Status.verified)
        assert "vercel:marketplace-resource:store_supa1" in exp[vercel.id].can_destroy
    if "supabase" not in down:
        sb = next(c for c in by_provider["supabase"] if c.status == Status.verified)
        assert "supabase:project:prodrefabcdefghijklm" in exp[sb.id].unrecoverable
    # zero writes anywhere, zero secrets in the report and the logs
    for name, f in pack_fakes.items():
        writes = [w for w in f.writes if not (name == "fly" and w == ("POST", "/graphql"))]  # GraphQL reads
        assert writes == [] and not getattr(f, "mutations", []), (name, writes)
    assert not railway_fake.mutations
    from reports.json_report import dumps

    canaries.assert_absent(texts=[dumps(result), result.model_dump_json(), repr(result), caplog.text])
    print(f"{scenario}: audit of {len(result.credentials)} credentials took {elapsed:.1f}s")
