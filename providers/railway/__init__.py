"""Railway provider: recognise, identify (read-only) and inventory Railway credentials and volumes."""

from .provider import RailwayProvider

__all__ = ["RailwayProvider"]
