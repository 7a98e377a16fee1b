"""The `StoragePlatform` seam: a provider whose platform hosts S3-compatible object storage.

An off-platform backup's store says where its copies live (`[[stores]] platform`/`account`, or its
`endpoint`). The provider of that platform recognises its endpoints and names the account; the audit
then asks that provider to judge its credentials against those backups (`Provider.judge_stored_backups`).
Any other S3 endpoint is an unrelated "s3-compatible" platform.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

__all__ = ["StorageLocation", "StoragePlatform"]


@dataclass(frozen=True)
class StorageLocation:
    label: str  # e.g. "AWS S3", "Cloudflare R2"
    account: str | None = None  # the platform's account, when the endpoint names it


class StoragePlatform(ABC):
    """Implemented by providers whose platform serves object storage that backups can be written to."""

    @abstractmethod
    def storage_at(self, endpoint_host: str) -> StorageLocation | None:
        """This platform's storage at ``endpoint_host`` ('' = a store configured without an endpoint), or None."""
