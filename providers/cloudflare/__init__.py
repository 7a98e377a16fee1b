"""Cloudflare: API tokens (cfut_/cfat_/legacy), the Global API Key (cfk_) and wrangler's OAuth login."""

from .provider import CloudflareProvider

__all__ = ["CloudflareProvider"]
