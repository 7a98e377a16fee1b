"""What Supabase credentials look like and where they live.

* Personal access tokens: ``sbp_`` + 40 hex; OAuth-app tokens ``sbp_oauth_`` + 40 hex (the Supabase CLI
  validates ``^sbp_(oauth_)?[a-f0-9]{40}$``). ``SUPABASE_ACCESS_TOKEN`` in files and the environment.
* The CLI's fallback file ``~/.supabase/access-token`` holds the raw token (whole file).
* Project data-plane keys that bypass row-level security: the legacy ``service_role`` JWT (bound to
  ``SUPABASE_SERVICE_ROLE_KEY`` and friends: a JWT alone is not a Supabase key) and the newer
  ``sb_secret_…`` keys (format seen in public code, ⚠ UNVERIFIED length).
"""

from __future__ import annotations

import re

from auditor.provider import FileRule, Recogniser
from auditor.provider_kit import cli_login, secret_pattern

_PAT = r"sbp_(?:oauth_)?[a-f0-9]{40}"
_JWT = r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"
_SECRET = r"sb_secret_[A-Za-z0-9_\-]{20,}"

PAT = Recogniser(
    provider="supabase",
    kind="personal_access_token",
    text_pattern=secret_pattern(_PAT),
    key_names=frozenset({"SUPABASE_ACCESS_TOKEN", "supabase_access_token", "SUPABASE_TOKEN"}),
    value_pattern=re.compile(_PAT),
    priority=60,
)

CLI_TOKEN = cli_login(
    "supabase", "personal_access_token", FileRule(".supabase/access-token", "*"), value_pattern=re.compile(_PAT)
)

SERVICE_ROLE = Recogniser(
    provider="supabase",
    kind="service_role_key",
    key_names=frozenset(
        {
            "SUPABASE_SERVICE_ROLE_KEY",
            "SUPABASE_SERVICE_KEY",
            "SUPABASE_SECRET_KEY",
            "SERVICE_ROLE_KEY",
            "supabase_service_role_key",
            "SUPABASE_SERVICE_ROLE",
        }
    ),
    value_pattern=re.compile(_JWT + "|" + _SECRET),
    priority=60,
)

SECRET_KEY = Recogniser(
    provider="supabase",
    kind="secret_key",
    text_pattern=re.compile(r"(?<![A-Za-z0-9_])(?P<secret>" + _SECRET + r")(?![A-Za-z0-9_\-])"),
    priority=55,
)

RECOGNISERS = (PAT, CLI_TOKEN, SERVICE_ROLE, SECRET_KEY)
