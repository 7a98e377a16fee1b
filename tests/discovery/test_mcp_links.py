"""Agents wired to a CLI login: a token-less MCP server entry becomes a source of the CLI-login credential."""

from __future__ import annotations

import json
from pathlib import Path

from auditor.audit import AuditOptions, run_audit
from auditor.discovery import DiscoveryOptions, discover
from auditor.model import SourceCategory
from auditor.registry import load_providers
from reports.html import embedded_texts, render_html


def _recognisers() -> list:  # type: ignore[type-arg]
    providers, _ = load_providers(include_plugins=False)
    return [r for p in providers.values() for r in p.recognisers()]


def _home(tmp_path: Path, canaries) -> tuple[Path, str, Path]:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    (home / ".railway").mkdir(parents=True)
    token = canaries.mint("rwcli-{r}")
    (home / ".railway" / "config.json").write_text(json.dumps({"user": {"token": token}, "projects": {}}))
    (home / ".cursor").mkdir()
    cursor = home / ".cursor" / "mcp.json"
    cursor.write_text(
        json.dumps(
            {
                "mcpServers": {
                    "railway": {"command": "railway", "args": ["mcp"]},
                    "railway-with-token": {
                        "command": "railway",
                        "args": ["mcp"],
                        "env": {"RAILWAY_API_TOKEN": "env-tok"},
                    },
                    "filesystem": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]},
                }
            }
        )
    )
    return home, token, cursor


def test_a_tokenless_railway_mcp_entry_is_a_source_of_the_cli_login(tmp_path: Path, canaries) -> None:  # type: ignore[no-untyped-def]
    home, token, cursor = _home(tmp_path, canaries)
    project = tmp_path / "proj"
    project.mkdir()
    (project / ".mcp.json").write_text(
        json.dumps({"mcpServers": {"rw": {"command": "npx", "args": ["-y", "@railway/mcp-server@latest"]}}})
    )
    res = discover(_recognisers(), DiscoveryOptions(paths=(project,), home=home))
    (login,) = [c for c in res.candidates if c.provider == "railway" and c.kind == "cli_login"]
    assert login.secret.reveal() == token
    links = [s for s in login.sources if s.mcp_server]
    assert {(s.path, s.locator, s.agent) for s in links} == {
        (str(cursor), "mcpServers.railway", "Cursor"),
        (str(project / ".mcp.json"), "mcpServers.rw", "Claude Code"),
    }
    assert all(s.category is SourceCategory.agent_config and "remove_volume" in s.destructive_tools for s in links)


def test_no_link_without_the_cli_login_or_for_an_entry_with_its_own_token(tmp_path: Path, canaries) -> None:  # type: ignore[no-untyped-def]
    home, _token, _cursor = _home(tmp_path, canaries)
    (home / ".railway" / "config.json").unlink()
    res = discover(_recognisers(), DiscoveryOptions(home=home))
    assert not any(s.mcp_server for c in res.candidates for s in c.sources)


def test_aws_api_mcp_server_links_to_the_profile_it_uses(tmp_path: Path, canaries) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text(
        "[default]\naws_access_key_id = AKIAZZZZZZZZZZZZZZZ1\naws_secret_access_key = " + canaries.mint("s{r}") + "\n"
        "[ops]\naws_access_key_id = AKIAZZZZZZZZZZZZZZZ2\naws_secret_access_key = " + canaries.mint("t{r}") + "\n"
    )
    (home / ".claude.json").write_text(
        json.dumps(
            {
                "mcpServers": {
                    "aws": {
                        "command": "uvx",
                        "args": ["awslabs.aws-api-mcp-server@latest"],
                        "env": {"AWS_API_MCP_PROFILE_NAME": "ops"},
                    }
                }
            }
        )
    )
    res = discover(_recognisers(), DiscoveryOptions(home=home))
    by_key = {c.secret.reveal(): c for c in res.candidates if c.provider == "aws"}
    assert not any(s.mcp_server for s in by_key["AKIAZZZZZZZZZZZZZZZ1"].sources)
    (link,) = [s for s in by_key["AKIAZZZZZZZZZZZZZZZ2"].sources if s.mcp_server]
    assert link.agent == "Claude Code" and link.locator == "mcpServers.aws" and link.destructive_tools


def test_the_html_card_says_which_agent_can_use_it(tmp_path: Path, canaries) -> None:  # type: ignore[no-untyped-def]
    home, _token, cursor = _home(tmp_path, canaries)
    result = run_audit(AuditOptions(home=home, include_env=False, offline=True, only_providers=["railway"]))
    cred = next(c for c in result.credentials if c.kind == "cli_login")
    assert any(s.locator == "mcpServers.railway" and s.path == str(cursor) for s in cred.sources)
    html = render_html(result)
    text = " ".join(embedded_texts(html)) + html
    assert (
        "reachable by Cursor through MCP server railway (Railway CLI MCP server), which has destructive tools" in text
    )
    assert "remove_volume" in text
    canaries.assert_absent(texts=[html, result.model_dump_json()])
