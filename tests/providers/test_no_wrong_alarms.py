"""Issue 15, end to end: an audit over revoked tokens, a read-only token and two tokens that see the same
repositories raises no alarm about what cannot happen (real discovery + run_audit against the fake GitHub and
Stripe servers)."""

from __future__ import annotations

import json
import secrets
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.audit import AuditOptions, run_audit
from auditor.model import AuditResult, Severity, Status
from auditor.provider import ProviderContext
from providers.github import GitHubProvider
from providers.stripe import StripeProvider
from tests.support.fakes.github import FakeGitHub
from tests.support.fakes.stripe import FakeStripe


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Any]]:
    s = {"github": FakeGitHub(repos=5), "stripe": FakeStripe()}
    for x in s.values():
        x.start()
    yield s
    for x in s.values():
        x.stop()


def _audit(tmp_path: Path, servers: dict[str, Any], canaries: Any) -> tuple[AuditResult, dict[str, str]]:
    gh = servers["github"]
    tok = {
        "admin_a": gh.add_token(canaries.add("ghp_" + secrets.token_hex(18)), "full"),
        "admin_b": gh.add_token(canaries.add("gho_" + secrets.token_hex(18)), "full"),
        "readonly": gh.add_token(canaries.add("ghp_" + secrets.token_hex(18)), "readonly"),
        "scoped": gh.add_token(canaries.add("ghp_" + secrets.token_hex(18)), "scoped"),
        "revoked_gh": canaries.add("ghp_" + secrets.token_hex(18)),  # unknown to the server: HTTP 401
        "revoked_gh2": canaries.add("ghp_" + secrets.token_hex(18)),
        "revoked_sk": canaries.add("sk_live_" + secrets.token_hex(30)),
    }
    home, repo = tmp_path / "home", tmp_path / "repo"
    (home / ".config/gh").mkdir(parents=True)
    (home / ".config/gh/hosts.yml").write_text(f"github.com:\n    oauth_token: {tok['admin_b']}\n    user: octo\n")
    (home / ".cursor").mkdir()
    (home / ".cursor/mcp.json").write_text(
        json.dumps(
            {
                "mcpServers": {
                    "github": {"command": "npx", "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": tok["readonly"]}},
                    "old": {"command": "npx", "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": tok["revoked_gh"]}},
                }
            }
        )
    )
    repo.mkdir()
    (repo / ".env").write_text(
        f"GITHUB_TOKEN={tok['admin_a']}\nGH_TOKEN={tok['scoped']}\nGITHUB_PAT={tok['revoked_gh2']}\n"
        f"STRIPE_SECRET_KEY={tok['revoked_sk']}\n"
    )
    providers = {p.name: p for p in (GitHubProvider(), StripeProvider())}
    result = run_audit(
        AuditOptions(
            paths=[repo],
            home=home,
            include_env=False,
            env={"BLASTWALL_GITHUB_URL": gh.url, "BLASTWALL_STRIPE_URL": servers["stripe"].url},
        ),
        providers=providers,
        ctx=ProviderContext(sleep=lambda s: None, timeout_s=5),
    )
    canaries.assert_absent(texts=[result.model_dump_json()])
    ids = {name: c.id for c in result.credentials for name, value in tok.items() if c.secret.reveal() == value}
    return result, ids


def test_no_alarm_about_what_cannot_happen(tmp_path: Path, servers: dict[str, Any], canaries: Any) -> None:
    result, ids = _audit(tmp_path, servers, canaries)
    by_id = {c.id: c for c in result.credentials}
    assert len(ids) == 7, ids  # every token was found
    revoked = {ids["revoked_gh"], ids["revoked_gh2"], ids["revoked_sk"]}
    assert {by_id[r].status for r in revoked} == {Status.invalid}

    # no high (or critical) finding names a revoked token, by id or by label
    labels = {by_id[r].label for r in revoked}
    loud = [f for f in result.findings if f.severity.rank >= Severity.high.rank]
    assert loud, "the admin tokens must still raise alarms"
    for f in loud:
        assert f.subject not in revoked and not any(lbl in f.message for lbl in labels), f
    # a revoked token is only "revoke and remove it"
    stale = [f for f in result.findings if f.subject in revoked]
    assert {f.rule for f in stale} == {"stale-credential"} and len(stale) == 3
    assert all("Revoke and remove it" in f.remediation for f in stale)
    assert not any(e.credential in revoked for e in result.exposure)

    # no resource id is repeated, neither in resources[] nor in any exposure list
    counts = Counter(r.id for r in result.resources)
    assert counts and max(counts.values()) == 1, counts
    assert set(counts) == {f"github:repo:octo/repo-{i}" for i in range(5)} | {
        "github:org:octo-org",
        "github:org:other-org",
    }
    for e in result.exposure:
        for lst in (e.can_destroy, e.may_destroy, e.unrecoverable, e.possibly_unrecoverable):
            assert len(lst) == len(set(lst)), e

    # tokens with no delete capability for repositories "may destroy" none, also the private repositories
    # they never listed; the two admin tokens can destroy all five
    exp = {e.credential: e for e in result.exposure}
    for name in ("readonly", "scoped"):
        assert ids[name] not in exp, exp.get(ids[name])
    admin_repos = {f"github:repo:octo/repo-{i}" for i in range(5) if i != 2}  # repo-2: not an admin there
    for name in ("admin_a", "admin_b"):
        assert set(exp[ids[name]].can_destroy) == admin_repos | {"github:org:octo-org"}  # the org it owns
        assert exp[ids[name]].may_destroy == ()
