"""DigitalOcean: personal access tokens (dop_v1_), OAuth tokens (doo_v1_, dor_v1_) and doctl logins."""

from .provider import DigitalOceanProvider

__all__ = ["DigitalOceanProvider"]
