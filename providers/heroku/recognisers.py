"""What Heroku credentials look like and where they live.

* New-format tokens: ``HRKU-AA`` + 58 ``[0-9A-Za-z_-]`` (gitleaks ``heroku-api-key-v2``, trufflehog heroku/v2);
  the Heroku CLI's typings also show ``HRKU-`` + UUID.
* Legacy tokens are bare UUIDs: only claimed when bound to ``HEROKU_API_KEY`` (a UUID alone is not a Heroku
  token) or found in the CLI's files.
* The CLI writes ``~/.netrc`` (``machine api.heroku.com`` / ``git.heroku.com`` → ``password``) in every
  storage mode; multi-account files live in ``~/.config/heroku/accounts/<name>`` (legacy ``~/.heroku/accounts``)
  with ``password`` (Ruby-era files: ``:password``).
"""

from __future__ import annotations

import re

from auditor.provider import FileRule, Recogniser
from auditor.provider_kit import WORD, cli_login, text_recognisers

_V2 = r"HRKU-AA[0-9A-Za-z_\-]{58}"
_V2_UUID = r"HRKU-[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

(TOKEN,) = text_recognisers("heroku", [("api_token", _V2 + "|" + _V2_UUID)], priority=60, word=WORD + "\\-")

ENV_TOKEN = Recogniser(
    provider="heroku",
    kind="api_token",
    key_names=frozenset({"HEROKU_API_KEY", "heroku_api_key", "HEROKU_API_TOKEN", "HEROKU_OAUTH_TOKEN"}),
    value_pattern=re.compile(_V2 + "|" + _V2_UUID + "|" + _UUID),
    priority=60,
)

CLI_LOGIN = cli_login(
    "heroku",
    "api_token",
    FileRule(".netrc", "machine api.heroku.com.password", hints=("login",)),
    FileRule(".netrc", "machine git.heroku.com.password", hints=("login",)),
    FileRule("_netrc", "machine api.heroku.com.password", hints=("login",)),
    FileRule(".config/heroku/accounts/*", "password", hints=("username",)),
    FileRule(".config/heroku/accounts/*", ":password", hints=(":username",)),
    FileRule(".heroku/accounts/*", "password", hints=("username",)),
    FileRule(".heroku/accounts/*", ":password", hints=(":username",)),
)

RECOGNISERS = (TOKEN, ENV_TOKEN, CLI_LOGIN)
