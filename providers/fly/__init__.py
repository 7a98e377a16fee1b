"""Fly.io: macaroon tokens (FlyV1 fm2_…, decoded offline) and legacy user tokens (fo1_)."""

from .provider import FlyProvider

__all__ = ["FlyProvider"]
