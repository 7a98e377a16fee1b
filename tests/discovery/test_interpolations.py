"""Interpolations in agent and CI configs are placeholders, never credentials, wherever they are assigned
(issue 15: `${env:RAILWAY_API_TOKEN}` in .cursor/mcp.json was reported as a root-equivalent Railway token)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.audit import AuditOptions, run_audit
from auditor.discovery.placeholders import is_placeholder
from tests.support.canary import Canaries
from tests.support.planted import gh

FORMS = [
    "${env:RAILWAY_API_TOKEN}",  # Cursor / VS Code
    "${input:railway_token}",  # VS Code input variable
    "${{ secrets.RAILWAY_TOKEN }}",  # GitHub Actions
    "{{ .Env.RAILWAY_TOKEN }}",  # Go templates (goreleaser)
    "$(RAILWAY_TOKEN)",  # shell / Azure Pipelines
    "%RAILWAY_TOKEN%",  # Windows
    "<RAILWAY_TOKEN>",
    "op://Private/Railway/credential",  # 1Password reference
    "vault:secret/data/railway#token",
    "sm://projects/acme/secrets/railway-token",
]


@pytest.mark.parametrize("value", FORMS)
def test_each_interpolation_form_is_a_placeholder(value: str) -> None:
    assert is_placeholder(value)


def _found(home: Path) -> list[tuple[str, str]]:
    r = run_audit(AuditOptions(home=home, paths=[home / "proj"], env={}, include_env=False, offline=True))
    return [(c.provider, s.path) for c in r.credentials for s in c.sources]


@pytest.mark.parametrize("value", FORMS)
def test_no_credential_from_an_interpolation_in_any_config(tmp_path: Path, value: str, canaries: Canaries) -> None:
    home = tmp_path / "home"
    (home / ".cursor").mkdir(parents=True)
    real = canaries.add(gh())
    env = {"RAILWAY_API_TOKEN": value, "RAILWAY_TOKEN": value, "GITHUB_TOKEN": real}
    (home / ".cursor/mcp.json").write_text(json.dumps({"mcpServers": {"railway": {"command": "npx", "env": env}}}))
    (home / "proj").mkdir()
    (home / "proj/.env").write_text(f'RAILWAY_TOKEN={value}\nRAILWAY_API_TOKEN="{value}"\n')
    (home / "proj/.github/workflows").mkdir(parents=True)
    (home / "proj/.github/workflows/deploy.yml").write_text(
        f"jobs:\n  deploy:\n    env:\n      RAILWAY_TOKEN: {json.dumps(value)}\n      RAILWAY_API_TOKEN: {value}\n"
    )
    found = _found(home)
    assert [p for p, _ in found if p == "railway"] == [], found
    assert ("github", str(home / ".cursor/mcp.json")) in found  # the real token beside it is still found
