"""The `DatabaseSource` seam: a provider that can look up the connection URL of a database it hosts.

A `[[sources]]` entry names such a database with ``provider = "<name>"`` and ``ref = {…}`` (plus
``token = "env:…"``); the core validates the token reference and asks the registry which provider
implements this interface (`auditor.registry.implementation`). The provider owns the shape of ``ref``:
it validates it (`validate_ref`) and resolves it (`resolve_database_url`). Backups only: the audit never
calls this seam.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from .provider import ProviderContext
from .secrets import Secret

__all__ = ["DatabaseSource", "RefError"]


class RefError(ValueError):
    """A provider rejected a ``ref = {…}`` table: ``key`` is the offending key inside it (None: the whole table)."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.message, self.key = message, key


class DatabaseSource(ABC):
    """Implemented by providers whose databases can be backed up by reference (project/service names)."""

    @abstractmethod
    def validate_database_ref(self, ref: Mapping[str, Any]) -> dict[str, Any]:
        """The normalised ref (defaults filled in). Pure, no network. Raises `RefError` on a bad table."""

    @abstractmethod
    def resolve_database_url(self, ref: Mapping[str, Any], token: Secret, ctx: ProviderContext) -> Secret:
        """The database's libpq URL, read-only. ``ref`` has been through `validate_database_ref`.

        The result is a secret: never log it or put it in a message. Raises a `BlastwallError` with names only.
        """

    def describe_ref(self, ref: Mapping[str, Any]) -> str:
        """Where the URL is looked up, names only (recorded as a backup's ``via``). Default: the values joined."""
        return "/".join(str(v) for v in ref.values())
