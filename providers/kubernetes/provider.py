"""Kubernetes credentials in kubeconfig files."""

from __future__ import annotations

from collections.abc import Sequence

from auditor.model import Candidate, Credential, Status
from auditor.provider import FileRule, Provider, Recogniser

__all__ = ["KubernetesProvider"]


class KubernetesProvider(Provider):
    name = "kubernetes"
    display_name = "Kubernetes"

    def recognisers(self) -> Sequence[Recogniser]:
        rules = tuple(
            FileRule(".kube/config", f"users*.user.{k}") for k in ("token", "client-key-data", "password")
        ) + (FileRule(".kube/config", "users*.user.auth-provider.config.access-token"),)
        return (Recogniser(provider="kubernetes", kind="kubeconfig_user", files=rules, category="cli_config"),)

    def classify(self, candidate: Candidate) -> Credential:
        return Credential.from_candidate(
            candidate,
            status=Status.unverified,
            root_equivalent=None,
            possible_capabilities=("delete:persistentvolume", "delete:namespace"),
            reasons=(
                "A kubeconfig user acts with its RBAC bindings, which were not inspected; cluster-admin "
                "bindings are common, so its reach is unknown, not safe.",
            ),
        )
