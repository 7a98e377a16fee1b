"""What Neon credentials look like and where they live.

Neon documents no token prefix ("a randomly-generated 64-bit token"); third-party claims (``napi_…``,
``neon_…``) disagree, so there is deliberately **no** free-text pattern: keys are recognised by name
(``NEON_API_KEY``) and in neonctl's ``credentials.json`` (``$XDG_CONFIG_HOME/neonctl``, default
``~/.config/neonctl``): an OIDC token set with ``access_token`` (short-lived) and ``refresh_token``.
"""

from __future__ import annotations

import re

from auditor.provider import FileRule, Recogniser
from auditor.provider_kit import cli_login

API_KEY = Recogniser(
    provider="neon",
    kind="api_key",
    key_names=frozenset({"NEON_API_KEY", "neon_api_key", "NEON_API_TOKEN", "NEON_TOKEN"}),
    value_pattern=re.compile(r"[A-Za-z0-9_\-]{32,128}"),
    priority=60,
)

CLI_ACCESS = cli_login(
    "neon", "cli_oauth_token", FileRule(".config/neonctl/credentials.json", "access_token", hints=("expires_at",))
)
CLI_REFRESH = cli_login(
    "neon", "cli_refresh_token", FileRule(".config/neonctl/credentials.json", "refresh_token"), priority=40
)

# Neon's MCP server takes the key as a positional argument: ``npx -y @neondatabase/mcp-server-neon start <key>``
# (args[3]). Without a documented format the argument can only be claimed where the server is named
# neon…/Neon… in the home's agent configs; a 40+ character value is still required.
_MCP_FILES = (
    ".cursor/mcp.json",
    ".codeium/windsurf/mcp_config.json",
    ".kiro/settings/mcp.json",
    ".gemini/settings.json",
    ".config/Claude/claude_desktop_config.json",
    "Library/Application Support/Claude/claude_desktop_config.json",
    "AppData/Roaming/Claude/claude_desktop_config.json",
    ".claude.json",
)
_ARG3 = "[Nn]eon*.args[[]3[]]"
MCP_ARG = Recogniser(
    provider="neon",
    kind="api_key",
    files=tuple(FileRule(path, f"mcpServers.{_ARG3}") for path in _MCP_FILES)
    + (FileRule(".claude.json", f"projects*.mcpServers.{_ARG3}"),),
    value_pattern=re.compile(r"[A-Za-z0-9_\-]{40,128}"),
    category="cli_config",  # the contract's rule for file rules; discovery labels these files agent_config
    priority=55,
)

RECOGNISERS = (API_KEY, CLI_ACCESS, CLI_REFRESH, MCP_ARG)
