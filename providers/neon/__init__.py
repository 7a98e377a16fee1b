"""Neon: API keys (personal, organization, project-scoped), the neonctl login, projects and their history."""

from __future__ import annotations

from .provider import NeonProvider

__all__ = ["NeonProvider"]
