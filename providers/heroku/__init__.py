"""Heroku: API tokens (`HRKU-…`, legacy UUIDs), the CLI's ~/.netrc login, apps, Postgres and PGBackups."""

from __future__ import annotations

from .provider import HerokuProvider

__all__ = ["HerokuProvider"]
