"""Stripe: secret keys (sk_live_/sk_test_) and restricted keys (rk_live_/rk_test_)."""

from .provider import StripeProvider

__all__ = ["StripeProvider"]
