"""GitHub: personal access tokens (classic and fine-grained), OAuth, app and refresh tokens."""

from .provider import GitHubProvider

__all__ = ["GitHubProvider"]
