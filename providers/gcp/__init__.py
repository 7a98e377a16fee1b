"""Google Cloud: service-account keys, gcloud logins and impersonation configs; Cloud SQL and its backups."""

from __future__ import annotations

from .provider import GcpProvider

__all__ = ["GcpProvider"]
