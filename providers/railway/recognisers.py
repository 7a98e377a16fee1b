"""What Railway credentials look like and where an agent finds them."""

from __future__ import annotations

import re

from auditor.provider import FileRule, Recogniser

__all__ = ["RECOGNISERS", "UUID"]

UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

# ~/.railway/config.json (prod), config-staging.json, config-dev.json
CONFIG_GLOB = ".railway/config*.json"

RECOGNISERS: tuple[Recogniser, ...] = (
    # The CLI's OAuth login: an access token (1 h) next to a refresh token (1 year, rotates on use).
    Recogniser(
        provider="railway",
        kind="cli_login",
        files=(FileRule(CONFIG_GLOB, "user.accessToken", hints=("tokenExpiresAt",)),),
        companions={"refresh_token": ("refreshToken",)},
        priority=80,
        category="cli_config",
    ),
    # The legacy (pre-OAuth) CLI login token.
    Recogniser(
        provider="railway",
        kind="cli_login",
        files=(FileRule(CONFIG_GLOB, "user.token"),),
        priority=80,
        category="cli_config",
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
