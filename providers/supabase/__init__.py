"""Supabase: personal access tokens (`sbp_…`), project service-role keys, projects and their backups."""

from __future__ import annotations

from .provider import SupabaseProvider

__all__ = ["SupabaseProvider"]
