"""`RailwayProvider`: the plugin class registered in auditor/registry.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from auditor.model import Candidate, Credential, Inventory
from auditor.provider import Provider, ProviderContext, Recogniser
from auditor.secrets import Secret

from .database_url import resolve_database_url
from .identity import classify, identify
from .inventory import run_inventory
from .proposal import propose_source
from .recognisers import RECOGNISERS
from .volume_restore import describe_volume_restore, restore_volume_backup

__all__ = ["RailwayProvider"]


class RailwayProvider(Provider):
    """Railway: account, workspace, project tokens and the CLI login; volumes and their backups."""

    name = "railway"
    display_name = "Railway"

    def recognisers(self) -> Sequence[Recogniser]:
        return RECOGNISERS

    def classify(self, candidate: Candidate) -> Credential:
        return classify(candidate)

    def identify(self, credential: Credential, ctx: ProviderContext) -> Credential:
        return identify(credential, ctx)

    def inventory(self, credentials: Sequence[Credential], ctx: ProviderContext) -> Inventory:
        return run_inventory(credentials, ctx)

    def propose_source(self, resource: Mapping[str, Any]) -> Any:
        """`blastwall init --from-report`: a [[sources]] entry for a PostgreSQL volume (None otherwise)."""
        return propose_source(resource)

    def resolve_database_url(self, ref: Mapping[str, Any], token: Secret, ctx: ProviderContext) -> Secret:
        """Backups only (never the audit): a service's DATABASE_PUBLIC_URL, read with `variables`."""
        return resolve_database_url(ref, token, ctx)

    def describe_volume_restore(
        self, ref: Mapping[str, Any], backup_id: str, token: Secret, ctx: ProviderContext
    ) -> dict[str, Any]:
        """Restores only: the volume instance, the backup and the newer backups a restore removes (read-only)."""
        return describe_volume_restore(ref, backup_id, token, ctx)

    def restore_volume_backup(
        self,
        ref: Mapping[str, Any],
        backup_id: str,
        token: Secret,
        ctx: ProviderContext,
        *,
        volume_instance_id: str,
        commit_message: str,
    ) -> dict[str, Any]:
        """Restores only, from an approved action step: stage, commit, wait. The write client lives only here."""
        return restore_volume_backup(
            ref, backup_id, token, ctx, volume_instance_id=volume_instance_id, commit_message=commit_message
        )
