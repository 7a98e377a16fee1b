"""Google Cloud: service-account keys and application-default credentials (recognised offline)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from auditor.model import Candidate, Credential, Status
from auditor.provider import FileRule, Provider, Recogniser

__all__ = ["GcpProvider"]


class GcpProvider(Provider):
    name = "gcp"
    display_name = "Google Cloud"

    def recognisers(self) -> Sequence[Recogniser]:
        return (
            Recogniser(
                provider="gcp", kind="service_account_key",
                key_names=frozenset({"private_key"}),
                value_pattern=re.compile(r"-----BEGIN (?:RSA )?PRIVATE KEY-----.+", re.S),
                companions={"client_email": ("client_email",)},
                required_companions=("client_email",),
                priority=60,
            ),
            Recogniser(
                provider="gcp", kind="user_refresh_token",
                files=(
                    FileRule(".config/gcloud/application_default_credentials.json", "refresh_token"),
                    FileRule(".config/gcloud/legacy_credentials/*/adc.json", "refresh_token"),
                ),
                category="cli_config",
            ),
            Recogniser(
                provider="gcp", kind="api_key",
                text_pattern=re.compile(r"\b(?P<secret>AIza[0-9A-Za-z_\-]{35})(?![0-9A-Za-z_\-])"),
            ),
        )

    def classify(self, candidate: Candidate) -> Credential:
        if candidate.kind == "service_account_key":
            return Credential.from_candidate(
                candidate, status=Status.unverified, root_equivalent=None,
                principal=candidate.companions["client_email"].reveal() if "client_email" in candidate.companions else None,
                possible_capabilities=("delete:project", "delete:database", "delete:bucket"),
                reasons=("A service-account key acts with every IAM role granted to that account; its roles were not "
                         "inspected (no Google Cloud inspection yet), so its reach is unknown, not safe.",),
            )
        if candidate.kind == "user_refresh_token":
            return Credential.from_candidate(
                candidate, status=Status.unverified, root_equivalent=None,
                possible_capabilities=("delete:project",),
                reasons=("A gcloud user login acts as the user across every project the user can reach.",),
            )
        return Credential.from_candidate(
            candidate, status=Status.unverified, root_equivalent=False,
            reasons=("A Google API key identifies a project for quota and billing; it does not grant IAM roles.",),
        )
