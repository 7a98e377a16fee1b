"""Docker registry credentials in ~/.docker/config.json."""

from .provider import DockerProvider

__all__ = ["DockerProvider"]
