"""What Render credentials look like and where they live.

* API keys: ``rnd_`` followed by alphanumerics. Keys in public examples carry 28 characters after the
  prefix; third-party docs mention 40-50 in all. No gitleaks or trufflehog rule exists for them.
* ``RENDER_API_KEY`` in dotenv files, agent configs and the environment.
* The Render CLI: ``~/.render/cli.yaml`` → ``api.key`` (and ``api.refreshtoken`` after an OAuth login).
"""

from __future__ import annotations

import re

from auditor.provider import FileRule, Recogniser

# rnd_ + 28..64 alphanumerics, containing at least one digit and one letter (random keys do; words don't).
_KEY = r"rnd_(?=[A-Za-z0-9]*[0-9])(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{28,64}"

API_KEY = Recogniser(
    provider="render",
    kind="api_key",
    text_pattern=re.compile(r"(?<![A-Za-z0-9_])(?P<secret>" + _KEY + r")(?![A-Za-z0-9_])"),
    key_names=frozenset({"RENDER_API_KEY", "render_api_key", "RENDER_TOKEN"}),
    value_pattern=re.compile(_KEY),
    priority=60,
)

CLI_LOGIN = Recogniser(
    provider="render",
    kind="api_key",
    files=(FileRule(".render/cli.yaml", "api.key", hints=("expires_at", "host")),),
    category="cli_config",
    priority=65,
)

CLI_REFRESH = Recogniser(
    provider="render",
    kind="cli_refresh_token",
    files=(FileRule(".render/cli.yaml", "api.refreshtoken"),),
    category="cli_config",
    priority=40,
)

RECOGNISERS = (API_KEY, CLI_LOGIN, CLI_REFRESH)
