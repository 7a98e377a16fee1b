"""Docker registry credentials in ~/.docker/config.json."""

from __future__ import annotations

from collections.abc import Sequence

from auditor.model import Candidate, Credential, Status
from auditor.provider import FileRule, Provider, Recogniser
from auditor.provider_kit import cli_login

__all__ = ["DockerProvider"]


class DockerProvider(Provider):
    name = "docker"
    display_name = "Docker registries"

    def recognisers(self) -> Sequence[Recogniser]:
        return (
            cli_login(
                "docker",
                "registry_auth",
                FileRule(".docker/config.json", "auths*.auth"),
                FileRule(".docker/config.json", "auths*.identitytoken"),
                priority=50,
            ),
        )

    def classify(self, candidate: Candidate) -> Credential:
        registry = candidate.sources[0].locator.split(".auth")[0].removeprefix("auths") if candidate.sources else ""
        return Credential.from_candidate(
            candidate,
            status=Status.unverified,
            root_equivalent=False,
            principal=registry.strip('.[]"') or None,
            capabilities=("write:registry",),
            reasons=(
                "A registry login can push and delete images in that registry; it does not reach databases or volumes.",
            ),
        )
