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
_TEMPLATE = re.compile(r"\$\{[^}]*\}|\$\([^)]*\)|\{\{[^}]*\}\}|%\([^)]*\)s|<[^<>]{1,64}>|^\$[A-Za-z_][A-Za-z0-9_]*$")
_WORDS = re.compile(
    r"your[_\- ]?(api[_\- ]?)?(token|key|secret|password)|placeholder|changeme|change[_\-]me|redacted|"
    r"replace[_\-]?me|example|dummy|insert[_\-]|todo|fixme|xxxx|\*{3,}|•{3,}|\.\.\.|^(none|null|true|false)$",
    re.IGNORECASE,
)


_WEAK = {"password", "passwd", "pass", "secret", "postgres", "changeme", "admin", "root", "mysql", "redis",
         "example", "test", "pwd", "pw", "p@ssw0rd", "password123", "mypassword", "yourpassword"}
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
    if _WORDS.search(v):
        return True
    body = re.sub(r"^[A-Za-z]+[_\-]", "", v)  # ignore a format prefix like ghp_ or sk_live_
    body = re.sub(r"^(live|test)_", "", body)
    distinct = set(body.replace("-", "").replace("_", ""))
    if len(distinct) <= 3:  # XXXXXXXX-XXXX…, 00000000, aaaa
        return True
    return False
