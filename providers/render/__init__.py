"""Render: API keys (`rnd_…`), the Render CLI login, workspaces, Postgres, disks and their backups."""

from __future__ import annotations

from .provider import RenderProvider

__all__ = ["RenderProvider"]
