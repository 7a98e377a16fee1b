"""Google Cloud: service-account keys and application-default credentials (recognised offline)."""

from .provider import GcpProvider

__all__ = ["GcpProvider"]
