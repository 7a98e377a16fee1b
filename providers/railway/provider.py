"""`RailwayProvider`: the plugin class registered in auditor/registry.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from auditor.database_source import DatabaseSource
from auditor.model import Candidate, Credential, Inventory
from auditor.provider import Provider, ProviderContext, Recogniser
from auditor.secrets import Secret
from auditor.volume_restorer import VolumeRestorer, VolumeRestoreRequest

from .identity import classify
from .recognisers import RECOGNISERS

if TYPE_CHECKING:
    from auditor.workflow.model import Workflow

__all__ = ["RailwayProvider"]


class RailwayProvider(Provider, DatabaseSource, VolumeRestorer):
    """Railway: account, workspace, project tokens and the CLI login; volumes and their backups."""

    name = "railway"
    display_name = "Railway"

    def recognisers(self) -> Sequence[Recogniser]:
        return RECOGNISERS

    def classify(self, candidate: Candidate) -> Credential:
        return classify(candidate)

    # what talks to Railway (the GraphQL client, the inventory) and the backup and restore seams are imported by
    # their first call: an offline audit only recognises and classifies
    def identify(self, credential: Credential, ctx: ProviderContext) -> Credential:
        from .identity import identify

        return identify(credential, ctx)

    def inventory(self, credentials: Sequence[Credential], ctx: ProviderContext) -> Inventory:
        from .inventory import run_inventory

        return run_inventory(credentials, ctx)

    # -- DatabaseSource (backups only; the audit never calls these) -----------------------------------------
    def validate_database_ref(self, ref: Mapping[str, Any]) -> dict[str, Any]:
        from .refs import DatabaseRef, validate_ref

        return validate_ref(DatabaseRef, ref)

    def propose_source(self, resource: Mapping[str, Any]) -> Any:
        """`blastwall init --from-report`: a [[sources]] entry for a PostgreSQL volume (None otherwise)."""
        from .proposal import propose_source

        return propose_source(resource)

    def resolve_database_url(self, ref: Mapping[str, Any], token: Secret, ctx: ProviderContext) -> Secret:
        """A service's DATABASE_PUBLIC_URL, read with `variables`."""
        from .database_url import resolve_database_url

        return resolve_database_url(ref, token, ctx)

    # -- VolumeRestorer (restores only, through the gate) ------------------------------------------------------
    def validate_volume_ref(self, ref: Mapping[str, Any]) -> dict[str, Any]:
        from .refs import VolumeRef, validate_ref

        return validate_ref(VolumeRef, ref)

    def volume_restore_workflow(self, request: VolumeRestoreRequest) -> Workflow:
        from .restore_workflow import volume_restore_workflow

        return volume_restore_workflow(request)
