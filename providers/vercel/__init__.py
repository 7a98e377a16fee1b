"""Vercel: access tokens (`vcp_…`, legacy 24-character), the CLI login, teams, projects and Marketplace
integrations (whose removal can delete the linked provider's resources: the Vercel→Supabase cascade)."""

from __future__ import annotations

from .provider import VercelProvider

__all__ = ["VercelProvider"]
