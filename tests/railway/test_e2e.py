"""End to end through `auditor.audit.run_audit`: tokens placed as an agent finds them, a 2-workspace world."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import ClassVar

import pytest

from auditor.audit import AuditOptions, run_audit
from auditor.model import CoverageGap, Inventory, Resource, Status
from auditor.provider import Provider, ProviderContext, Recogniser
from providers.railway import RailwayProvider
from reports.json_report import dumps


def _plant(root: Path, fake, canaries) -> tuple[Path, Path]:
    home, proj = root / "home", root / "work" / "shop"
    (home / ".railway").mkdir(parents=True)
    (home / ".cursor").mkdir()
    proj.mkdir(parents=True)
    for name in ("cli", "account", "project"):
        canaries.add(fake.token(name))
    refresh = canaries.mint("rfr_{r}")
    (home / ".railway/config.json").write_text(
        json.dumps(
            {
                "projects": {
                    str(proj): {
                        "projectPath": str(proj),
                        "name": "shop",
                        "project": next(iter(fake.scenario.projects)),
                        "environmentName": "production",
                    }
                },
                "user": {
                    "id": next(iter(fake.scenario.users)),
                    "accessToken": fake.token("cli"),
                    "refreshToken": refresh,
                    "tokenExpiresAt": int(time.time()) + 3000,
                },
            },
            indent=2,
        )
    )
    (home / ".cursor/mcp.json").write_text(
        json.dumps(
            {
                "mcpServers": {
                    "Railway": {
                        "command": "npx",
                        "args": ["-y", "@railway/mcp-server"],
                        "env": {"RAILWAY_API_TOKEN": fake.token("account")},
                    }
                }
            },
            indent=2,
        )
    )
    (proj / ".env").write_text(f"NODE_ENV=production\nRAILWAY_TOKEN={fake.token('project')}\n")
    return home, proj


def _audit(home: Path, proj: Path, url: str, sleeps, providers=None, max_retries: int = 2):
    return run_audit(
        AuditOptions(paths=[proj], home=home, include_env=False, env={"BLASTWALL_RAILWAY_URL": url}),
        providers=providers or {"railway": RailwayProvider()},
        ctx=ProviderContext(sleep=sleeps, max_retries=max_retries, timeout_s=3.0),
    )


def test_full_audit_against_the_fake(
    railway_fake, canaries, sleeps, tmp_path: Path, test_output_dir: Path, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    s = railway_fake.scenario
    assert len({w for w in s.workspaces}) >= 2 and len(s.projects) >= 4
    home, proj = _plant(tmp_path, railway_fake, canaries)
    result = _audit(home, proj, railway_fake.url, sleeps)

    creds = {c.kind: c for c in result.credentials if c.provider == "railway"}
    assert set(creds) == {"cli_login", "account_token", "project_token"}
    assert all(c.status == Status.verified for c in creds.values()), [c.reasons for c in creds.values()]
    assert creds["cli_login"].root_equivalent is True and creds["account_token"].root_equivalent is True
    assert creds["project_token"].root_equivalent is None
    assert creds["account_token"].sources[0].locator == "mcpServers.Railway.env.RAILWAY_API_TOKEN"
    assert creds["project_token"].sources[0].locator == "RAILWAY_TOKEN"

    # every volume backup shares the blast radius of its volume
    assert len(result.backups) == 8
    assert all(b.same_blast_radius is True for b in result.backups)

    # exposure: each root-equivalent token can destroy every database volume, none of which is recoverable
    db_vols = {r.id for r in result.resources if r.type == "volume" and r.metadata.get("database")}
    assert len(db_vols) == 7
    exposure = {e.credential: e for e in result.exposure}
    for kind in ("cli_login", "account_token"):
        e = exposure[creds[kind].id]
        assert set(e.can_destroy) == db_vols and set(e.unrecoverable) == db_vols
    pe = exposure[creds["project_token"].id]
    assert pe.can_destroy == () and pe.may_destroy and set(pe.possibly_unrecoverable) == set(pe.may_destroy)

    rules = {f.rule for f in result.findings}
    assert {
        "railway.root-token-agent-readable",
        "railway.database-no-offplatform-backup",
        "railway.no-backup-schedule",
        "railway.backup-stale",
    } <= rules
    assert not [g for g in result.coverage_gaps if g.provider == "railway"]

    # read-only: not one mutation attempt, no secret value read
    assert railway_fake.mutations == [] and railway_fake.writes == []
    assert railway_fake.secret_reads == []
    assert all(r["type"] == "query" for r in railway_fake.requests)

    # no secret in any output
    report = dumps(result)
    (test_output_dir / "railway-audit.json").write_text(report)
    canaries.assert_absent(texts=[report, result.model_dump_json(), repr(result), caplog.text], trees=[test_output_dir])


def test_429_and_5xx_during_the_audit_are_survived(railway_fake, canaries, sleeps, tmp_path: Path):
    home, proj = _plant(tmp_path, railway_fake, canaries)
    railway_fake.rate_limit(times=2, retry_after=4)
    railway_fake.fail_5xx(times=2, status=502)
    # identify runs concurrently, so one request may meet all 4 faults: 4 retries are enough for any order
    result = _audit(home, proj, railway_fake.url, sleeps, max_retries=4)
    assert 4.0 in sleeps.calls
    assert all(c.status == Status.verified for c in result.credentials)
    assert len(result.backups) == 8 and not result.coverage_gaps
    assert {r.get("status") for r in railway_fake.requests} >= {429, 502, 200}


class _Other(Provider):
    """Stands in for any other provider: proves the rest of the audit completes."""

    name: ClassVar[str] = "other"

    def recognisers(self):
        import re

        return [
            Recogniser(
                provider="other",
                kind="key",
                key_names=frozenset({"OTHER_KEY"}),
                value_pattern=re.compile(r"ok_[a-z0-9]{16,}"),
            )
        ]

    def inventory(self, credentials, ctx):
        return Inventory(
            resources=(Resource(id="other:db:1", provider="other", type="database", name="db1", holds_data=True),)
        )


def test_unreachable_endpoint_is_a_gap_and_the_rest_completes(
    railway_fake, railway_unreachable_url, canaries, sleeps, tmp_path: Path
):
    home, proj = _plant(tmp_path, railway_fake, canaries)
    (proj / ".env").write_text((proj / ".env").read_text() + "OTHER_KEY=ok_0123456789abcdef0123\n")
    result = _audit(
        home, proj, railway_unreachable_url, sleeps, providers={"railway": RailwayProvider(), "other": _Other()}
    )
    rw = [c for c in result.credentials if c.provider == "railway"]
    assert len(rw) == 3 and all(c.status == Status.error for c in rw)
    assert all(c.root_equivalent is not False for c in rw)  # unverified is never "safe"
    gaps = [g for g in result.coverage_gaps if g.provider == "railway"]
    assert gaps and all(isinstance(g, CoverageGap) for g in gaps)
    assert any("cannot reach" in g.reason for g in gaps)
    assert any(r.id == "other:db:1" for r in result.resources)  # the other provider's inventory is there
    assert any(c.provider == "other" for c in result.credentials)
    assert any(f.rule == "railway.root-token-agent-readable" for f in result.findings)
    canaries.assert_absent(texts=[dumps(result)])


@pytest.mark.parametrize("name", ["revoked"])
def test_revoked_token_in_mcp_config_is_invalid(railway_fake, canaries, sleeps, tmp_path: Path, name):
    home, proj = _plant(tmp_path, railway_fake, canaries)
    cfg = home / ".cursor/mcp.json"
    cfg.write_text(cfg.read_text().replace(railway_fake.token("account"), railway_fake.token(name)))
    canaries.add(railway_fake.token(name))
    result = _audit(home, proj, railway_fake.url, sleeps)
    bad = [c for c in result.credentials if c.sources[0].path == str(cfg)]
    assert len(bad) == 1 and bad[0].status == Status.invalid
    assert not [g for g in result.coverage_gaps if g.provider == "railway"]
    canaries.assert_absent(texts=[dumps(result)])
