"""What Vercel credentials look like and where they live.

* Prefixed formats (vercel.com/changelog/new-token-formats-and-secret-scanning): ``vcp`` personal access
  tokens, ``vci`` integration tokens, ``vca`` app access tokens, ``vcr`` app refresh tokens, ``vck`` API keys.
  The changelog names the prefixes only; the ``_`` separator and the length of the rest are assumptions
  (⚠ UNVERIFIED), so the pattern asks for ``vc?_`` + at least 24 alphanumerics.
* Older tokens have no prefix (24 alphanumerics, which scanners match near the word "vercel"): claimed only
  when bound to ``VERCEL_TOKEN`` and friends.
* The CLI: ``<XDG data>/com.vercel.cli/auth.json`` (Linux ``~/.local/share``, macOS
  ``~/Library/Application Support``) → ``token``; legacy ``~/.now/auth.json``.
* Blob store read-write tokens ``vercel_blob_rw_<storeId>_<secret>`` (seen in public code).
"""

from __future__ import annotations

import re

from auditor.provider import FileRule, Recogniser

_PREFIXED = r"vc[pciark]_[A-Za-z0-9]{24,}"
_LEGACY = r"[A-Za-z0-9]{24}"
_B = r"(?<![A-Za-z0-9_])"
_E = r"(?![A-Za-z0-9_])"

_KINDS = {
    "p": "access_token",
    "i": "integration_token",
    "a": "app_access_token",
    "r": "app_refresh_token",
    "k": "api_key",
}

PREFIXED = tuple(
    Recogniser(
        provider="vercel",
        kind=kind,
        text_pattern=re.compile(_B + r"(?P<secret>vc" + letter + r"_[A-Za-z0-9]{24,})" + _E),
        priority=60,
    )
    for letter, kind in _KINDS.items()
)

ENV_TOKEN = Recogniser(
    provider="vercel",
    kind="access_token",
    key_names=frozenset(
        {"VERCEL_TOKEN", "vercel_token", "VERCEL_API_TOKEN", "VERCEL_ACCESS_TOKEN", "VERCEL_AUTH_TOKEN"}
    ),
    value_pattern=re.compile(_PREFIXED + "|" + _LEGACY),
    priority=55,
)

CLI_LOGIN = Recogniser(
    provider="vercel",
    kind="access_token",
    files=(
        FileRule(".local/share/com.vercel.cli/auth.json", "token"),
        FileRule("Library/Application Support/com.vercel.cli/auth.json", "token"),
        FileRule("AppData/Roaming/com.vercel.cli/Data/auth.json", "token"),
        FileRule(".now/auth.json", "token"),
        FileRule(".now/auth.json", "credentials*token"),
    ),
    category="cli_config",
    priority=65,
)

BLOB = Recogniser(
    provider="vercel",
    kind="blob_rw_token",
    text_pattern=re.compile(_B + r"(?P<secret>vercel_blob_rw_[A-Za-z0-9]{8,32}_[A-Za-z0-9]{16,})" + _E),
    key_names=frozenset({"BLOB_READ_WRITE_TOKEN"}),
    value_pattern=re.compile(r"vercel_blob_rw_[A-Za-z0-9]{8,32}_[A-Za-z0-9]{16,}"),
    priority=60,
)

RECOGNISERS = (*PREFIXED, ENV_TOKEN, CLI_LOGIN, BLOB)
