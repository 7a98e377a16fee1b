"""What Railway credentials look like and where an agent finds them."""

from __future__ import annotations

import re

from auditor.provider import FileRule, McpServerRule, Recogniser

__all__ = ["MCP_SERVERS", "RECOGNISERS", "UUID"]

UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

# ~/.railway/config.json (prod), config-staging.json, config-dev.json
CONFIG_GLOB = ".railway/config*.json"

# The CLI's built-in MCP server (`railway mcp`) and the standalone `@railway/mcp-server` (which shells out to
# the CLI) carry no token: they act with the CLI's stored login (~/.railway/config.json). The built-in one
# exposes destructive tools (flagged destructive, needing confirm: true) next to set_variables and deploy.
MCP_SERVERS: tuple[McpServerRule, ...] = (
    McpServerRule(
        name="Railway CLI MCP server",
        commands=(("railway", "mcp"),),
        packages=("@railway/mcp-server",),
        destructive_tools=("remove_volume", "remove_service", "remove_bucket", "delete_domain", "remove_tcp_proxy"),
        token_env=("RAILWAY_API_TOKEN", "RAILWAY_TOKEN"),
    ),
)

RECOGNISERS: tuple[Recogniser, ...] = (
    # The CLI's OAuth login: an access token (1 h) next to a refresh token (1 year, rotates on use).
    Recogniser(
        provider="railway",
        kind="cli_login",
        files=(FileRule(CONFIG_GLOB, "user.accessToken", hints=("tokenExpiresAt",)),),
        companions={"refresh_token": ("refreshToken",)},
        priority=80,
        category="cli_config",
        mcp_servers=MCP_SERVERS,
    ),
    # The legacy (pre-OAuth) CLI login token.
    Recogniser(
        provider="railway",
        kind="cli_login",
        files=(FileRule(CONFIG_GLOB, "user.token"),),
        priority=80,
        category="cli_config",
        mcp_servers=MCP_SERVERS,
    ),
    # RAILWAY_TOKEN: what the CLI sends as Project-Access-Token. UUID-shaped.
    Recogniser(
        provider="railway",
        kind="project_token",
        key_names=frozenset({"RAILWAY_TOKEN", "railway_token"}),
        value_pattern=UUID,
        priority=60,
    ),
    # RAILWAY_API_TOKEN: an account or a workspace token (Bearer); which one is known only after identify().
    Recogniser(
        provider="railway",
        kind="api_token",
        key_names=frozenset({"RAILWAY_API_TOKEN", "railway_api_token"}),
        priority=60,
    ),
    # A UUID written next to the word "railway" in free text (notes, scripts): kind unknown until identified.
    Recogniser(
        provider="railway",
        kind="unknown_token",
        text_pattern=re.compile(
            r"railway[\w \-]{0,20}?(?:token|key|secret)\W{0,4}"
            r"(?P<secret>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b",
            re.IGNORECASE,
        ),
        priority=10,
    ),
)
