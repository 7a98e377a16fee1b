"""npm registry tokens (`npm_…`, `_authToken` in .npmrc)."""

from .provider import NpmProvider

__all__ = ["NpmProvider"]
