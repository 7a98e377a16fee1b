"""Values that look like credentials but are not: templates, examples, redactions."""

from __future__ import annotations

import re

__all__ = ["is_placeholder"]

_EXAMPLES = {
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AKIAI44QH8DHBEXAMPLE",
    "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
}
# Interpolations that agent and CI configs use instead of a value: ${VAR}, ${env:X} and ${input:x} (VS Code,
# Cursor), ${{ secrets.X }} (GitHub Actions), {{ .Env.X }} (Go templates), $(X) (shell, Azure Pipelines),
# %(x)s, %X% (Windows), <X>, $X; and references to a secret manager: op:// (1Password), vault:, sm://.
_TEMPLATE = re.compile(
    r"\$\{[^}]*\}|\$\([^)]*\)|\{\{[^}]*\}\}|%\([^)]*\)s|<[^<>]{1,64}>|^\$[A-Za-z_][A-Za-z0-9_]*$"
    r"|^%[A-Za-z_][A-Za-z0-9_]*%$|^(?:op://|vault:|sm://)"
)
# Words people write instead of a secret. They count only as whole words (delimited by non-alphanumerics),
# and only in short values: a long random token may contain "todo" or "xxxx" by chance.
_WORDS = re.compile(
    r"(?<![A-Za-z0-9])(?:your[_\- ]?[a-z_\- ]*|placeholder|changeme|change[_\-]me|redacted|replace[_\-]?me|"
    r"example|dummy|insert[_\-][a-z_\-]*|todo|fixme|x{4,}|none|null|true|false)(?![A-Za-z0-9])|\*{3,}|•{3,}|\.\.\.",
    re.IGNORECASE,
)
_MAX_PLACEHOLDER_LEN = 64

_WEAK = {
    "password",
    "passwd",
    "pass",
    "secret",
    "postgres",
    "changeme",
    "admin",
    "root",
    "mysql",
    "redis",
    "example",
    "test",
    "pwd",
    "pw",
    "p@ssw0rd",
    "password123",
    "mypassword",
    "yourpassword",
}
_URL_CREDS = re.compile(r"^[a-z][a-z0-9+.\-]*://([^:/@\s]*):([^@\s]*)@", re.IGNORECASE)


def is_placeholder(value: str) -> bool:
    v = value.strip()
    m = _URL_CREDS.match(v)
    if m:  # for a URL only the password decides
        user, password = m.group(1), m.group(2)
        if not password or password.lower() in _WEAK or user == password or _TEMPLATE.search(password):
            return True
        return is_placeholder(password) if len(password) >= 8 else False
    if len(v) < 8:
        return True
    if v in _EXAMPLES or v.endswith("EXAMPLE") or v.endswith("EXAMPLEKEY"):
        return True
    if _TEMPLATE.search(v):
        return True
    if len(v) <= _MAX_PLACEHOLDER_LEN and _WORDS.search(v):
        return True
    body = re.sub(r"^[A-Za-z]{1,12}[_\-](?:(?:live|test|v1)_)?", "", v)  # a format prefix: ghp_, sk_live_, dop_v1_
    if len(body) < 8:
        body = v
    distinct = set(body.replace("-", "").replace("_", ""))
    if len(distinct) <= 3:  # XXXXXXXX-XXXX…, 00000000, aaaa
        return True
    return False
