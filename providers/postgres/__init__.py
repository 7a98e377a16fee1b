"""PostgreSQL (and other database) connection URLs with an embedded password, plus ~/.pgpass."""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from auditor.model import Candidate, Credential, Status
from auditor.provider import FileRule, Provider, Recogniser

__all__ = ["PostgresProvider", "describe_url"]

_URL = re.compile(
    r"(?P<secret>\b(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|redis|rediss)://"
    r"[^\s:/@\"'`]+:[^\s@/\"'`]+@[^\s/\"'`?#]+(?:/[^\s\"'`?#,;)]*)?(?:\?[^\s\"'`#,;)]*)?)"
)


def describe_url(url: str) -> str:
    """user@host:port/db: no password."""
    try:
        u = urlsplit(url)
        host = u.hostname or "?"
        port = f":{u.port}" if u.port else ""
        return f"{u.username or '?'}@{host}{port}{u.path or ''}"
    except ValueError:
        return "unparseable URL"


class PostgresProvider(Provider):
    name = "postgres"
    display_name = "Database URLs"

    def recognisers(self) -> Sequence[Recogniser]:
        return (
            Recogniser(provider="postgres", kind="database_url", text_pattern=_URL, priority=40),
            Recogniser(provider="postgres", kind="pgpass_entry",
                       files=(FileRule(".pgpass", "line *"),), category="cli_config"),
        )

    def classify(self, candidate: Candidate) -> Credential:
        url = candidate.secret.reveal()
        scheme = url.split("://", 1)[0] if "://" in url else "postgres"
        where = describe_url(url) if "://" in url else None
        return Credential.from_candidate(
            candidate, status=Status.unverified, principal=where,
            root_equivalent=None,
            possible_capabilities=("delete:database-contents",),
            reasons=(f"A {scheme} URL with a password: whoever reads it can connect as that user and, with the "
                     "usual owner privileges, drop or overwrite the data. Its privileges were not checked.",),
            metadata={**candidate.hints, "scheme": scheme},
        )
