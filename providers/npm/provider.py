"""npm registry tokens (`npm_…`, `_authToken` in .npmrc)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from auditor.model import Candidate, Credential, Status
from auditor.provider import FileRule, Provider, Recogniser
from auditor.provider_kit import cli_login

__all__ = ["NpmProvider"]


class NpmProvider(Provider):
    name = "npm"
    display_name = "npm"

    def recognisers(self) -> Sequence[Recogniser]:
        return (
            Recogniser(
                provider="npm",
                kind="access_token",
                text_pattern=re.compile(r"\b(?P<secret>npm_[A-Za-z0-9]{36})\b"),
                key_names=frozenset({"NPM_TOKEN"}),
                priority=60,
            ),
            cli_login("npm", "auth_token", FileRule(".npmrc", "*_authToken"), priority=50),
        )

    def classify(self, candidate: Candidate) -> Credential:
        return Credential.from_candidate(
            candidate,
            status=Status.unverified,
            root_equivalent=False,
            capabilities=("publish:package",),
            reasons=("An npm token can publish (supply-chain risk) but holds no data that a backup protects.",),
        )
