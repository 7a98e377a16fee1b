"""The `VolumeRestorer` seam: a provider that can restore one of its own volume backups, through the gate.

A `[[targets]]` entry of ``kind = "volume"`` names the volume with ``provider = "<name>"``, ``ref = {…}``
and ``token = "env:…"``. The core asks the registry which provider implements this interface and lets it
build the gated workflow (`auditor.workflow.model.Workflow`: read steps, an `ApprovalGate`, the actions),
because only the provider knows its platform's restore sequence. The runner, the gate, the run store and
crash-safe resume stay in the core. The workflow's name is ``<provider>-volume-restore``
(`volume_workflow_name`), so the core can route a stored run back to its provider without loading it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import SecretRef
    from .workflow.model import Workflow

__all__ = ["VolumeRestoreRequest", "VolumeRestorer", "volume_workflow_name"]


def volume_workflow_name(provider: str) -> str:
    return f"{provider}-volume-restore"


@dataclass(frozen=True)
class VolumeRestoreRequest:
    """Everything a provider needs to build one volume-restore workflow; built by the core from the config."""

    target: str  # the [[targets]] name
    provider: str
    ref: Mapping[str, Any]  # validated by the provider's `validate_volume_ref`
    token: SecretRef  # a step secret: resolved by the runner only for the steps that declare it
    backup_id: str  # the platform's id of the volume backup to restore
    settings: Mapping[str, Any] = field(default_factory=dict)  # [providers.<name>]
    env: Mapping[str, str] = field(default_factory=dict)  # environment without any configured secret variable


class VolumeRestorer(ABC):
    """Implemented by providers that keep volume backups and can restore one into a live volume."""

    @abstractmethod
    def validate_volume_ref(self, ref: Mapping[str, Any]) -> dict[str, Any]:
        """The normalised ref of a volume target. Pure, no network. Raises `auditor.database_source.RefError`."""

    @abstractmethod
    def volume_restore_workflow(self, request: VolumeRestoreRequest) -> Workflow:
        """The gated workflow that restores ``request.backup_id``. Its last step's output may carry
        ``summary`` (a list of lines) that the CLI prints when the run succeeds."""
